// Values: a 16-byte tagged union. None, bool, int (64-bit) and float live inline; everything
// else is a pointer to a heap object (vm/object.h). The accessors are the tiny macros clox and
// wren use; nothing else in wk depends on the representation.
#ifndef WK_VM_VALUE_H
#define WK_VM_VALUE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Obj Obj;

typedef enum {
    VAL_NONE,
    VAL_BOOL,
    VAL_INT,
    VAL_FLOAT,
    VAL_OBJ,
    VAL_EMPTY, // internal only: an unbound local, an empty table slot, LOAD_METHOD's marker
} ValueType;

typedef struct {
    ValueType type;
    union {
        bool b;
        int64_t i;
        double f;
        Obj *obj;
    } as;
} Value;

#define NONE_VAL ((Value){VAL_NONE, {.i = 0}})
#define EMPTY_VAL ((Value){VAL_EMPTY, {.i = 0}})
#define BOOL_VAL(x) ((Value){VAL_BOOL, {.b = (x)}})
#define INT_VAL(x) ((Value){VAL_INT, {.i = (x)}})
#define FLOAT_VAL(x) ((Value){VAL_FLOAT, {.f = (x)}})
#define OBJ_VAL(x) ((Value){VAL_OBJ, {.obj = (Obj *)(x)}})

#define IS_NONE(v) ((v).type == VAL_NONE)
#define IS_EMPTY(v) ((v).type == VAL_EMPTY)
#define IS_BOOL(v) ((v).type == VAL_BOOL)
#define IS_INT(v) ((v).type == VAL_INT)
#define IS_FLOAT(v) ((v).type == VAL_FLOAT)
#define IS_OBJ(v) ((v).type == VAL_OBJ)

#define AS_BOOL(v) ((v).as.b)
#define AS_INT(v) ((v).as.i)
#define AS_FLOAT(v) ((v).as.f)
#define AS_OBJ(v) ((v).as.obj)

// Identity, as the `is` operator sees it.
static inline bool value_is(Value a, Value b) {
    if (a.type != b.type) {
        return false;
    }
    switch (a.type) {
    case VAL_NONE:
    case VAL_EMPTY:
        return true;
    case VAL_BOOL:
        return a.as.b == b.as.b;
    case VAL_INT:
        return a.as.i == b.as.i;
    case VAL_FLOAT:
        return a.as.f == b.as.f;
    default:
        return a.as.obj == b.as.obj;
    }
}

#endif
