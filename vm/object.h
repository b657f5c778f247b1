// Heap objects: the common header and the layout of every core kind. The collector owns the
// header's mark bit and weak bit (gc/); each kind's constructor lives in its own file (str.c,
// list.c, ...) and its trace and free functions are dispatched from vm/object.c.
#ifndef WK_VM_OBJECT_H
#define WK_VM_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "vm/value.h"

typedef struct WkVM WkVM;

typedef enum {
    OBJ_STR,
    OBJ_TUPLE,
    OBJ_LIST,
    OBJ_DICT,
    OBJ_SET,
    OBJ_RANGE,
    OBJ_SLICE,
    OBJ_CODE,
    OBJ_FUNCTION,
    OBJ_CELL,
    OBJ_NATIVE,
    OBJ_BOUND_METHOD,
    OBJ_CLASS,
    OBJ_INSTANCE,  // instances of user classes (and of object)
    OBJ_EXCEPTION, // instances of BaseException and its subclasses, user ones included
    OBJ_MODULE,
    OBJ_GENERATOR,
    OBJ_ITER,      // the built-in iterators (list, tuple, str, range, dict views, ...)
    OBJ_PROPERTY,
    OBJ_STATICMETHOD,
    OBJ_CLASSMETHOD,
    OBJ_WEAKREF,   // weakref.ref, WeakMethod and subclasses (stdlib/mod_weakref.c)
    OBJ_PROXY,
    OBJ_WEAKDICT,  // WeakKeyDictionary and WeakValueDictionary
    OBJ_WEAKSET,
    OBJ_FINALIZE,
    OBJ_KIND_COUNT
} ObjType;

// The header of every heap object: 8 bytes. The collector finds every object through its own
// order ring (gc/gc.h), so objects carry no link.
struct Obj {
    uint8_t type;     // ObjType
    uint8_t marked;   // gc/ only
    uint8_t weakly;   // gc/weak.c only: set once the object has ever been weakly referenced
    uint8_t flags;    // free for the kind's own use, except OBJ_FLAG_LEAF
    uint32_t aux;     // free for the kind's own use, except in instances (OBJ_INSTANCE),
                      // where gc/weak.c keeps the index of their side-table entry
};

// Obj.flags bit of an object that refers to nothing strongly: marking it then only sets its
// mark, and the collector (gc/) does not queue it for tracing. gc_alloc_object sets it for the
// kinds that never refer to anything (str, range); other kinds set it on such objects
// themselves (a basic weakref). Kinds keep their own flags below this bit, never clear it on
// str and range, and keep it set only while object_trace would mark nothing through the object.
#define OBJ_FLAG_LEAF 0x80

// Obj.flags bit of a weak kind (OBJ_WEAKREF ... OBJ_FINALIZE) that holds no weak slot any
// more (a ref whose referent died): clearing can never reach it, so the sweep frees it on the
// spot instead of keeping it until the clearing of the other dying objects is done. The kind
// sets it once its last slot is gone (it never takes one again); never setting it is always
// safe. Other kinds may use the bit for themselves.
#define OBJ_FLAG_NO_WEAK_SLOTS 0x40

#define OBJ_TYPE(v) (AS_OBJ(v)->type)
#define IS_KIND(v, k) (IS_OBJ(v) && OBJ_TYPE(v) == (k))
#define IS_STR(v) IS_KIND(v, OBJ_STR)
#define IS_TUPLE(v) IS_KIND(v, OBJ_TUPLE)
#define IS_LIST(v) IS_KIND(v, OBJ_LIST)
#define IS_DICT(v) IS_KIND(v, OBJ_DICT)
#define IS_SET(v) IS_KIND(v, OBJ_SET)
#define IS_CLASS(v) IS_KIND(v, OBJ_CLASS)
#define IS_FUNCTION(v) IS_KIND(v, OBJ_FUNCTION)
#define IS_NATIVE(v) IS_KIND(v, OBJ_NATIVE)
#define IS_INSTANCE(v) IS_KIND(v, OBJ_INSTANCE)
#define IS_EXCEPTION(v) IS_KIND(v, OBJ_EXCEPTION)

#define AS_STR(v) ((ObjStr *)AS_OBJ(v))
#define AS_TUPLE(v) ((ObjTuple *)AS_OBJ(v))
#define AS_LIST(v) ((ObjList *)AS_OBJ(v))
#define AS_DICT(v) ((ObjDict *)AS_OBJ(v))
#define AS_SET(v) ((ObjSet *)AS_OBJ(v))
#define AS_CLASS(v) ((ObjClass *)AS_OBJ(v))
#define AS_FUNCTION(v) ((ObjFunction *)AS_OBJ(v))
#define AS_NATIVE(v) ((ObjNative *)AS_OBJ(v))
#define AS_INSTANCE(v) ((ObjInstance *)AS_OBJ(v))
#define AS_EXCEPTION(v) ((ObjException *)AS_OBJ(v))

// ---- Hash table ------------------------------------------------------------------------------
// Insertion-ordered open-addressing table (vm/table.c), the storage of dict, globals, class
// namespaces and instance attributes. Entries are dense in insertion order; a deleted entry
// has key EMPTY until the next resize compacts them.
typedef struct {
    Value key;
    Value value;
    uint64_t hash;
} TableEntry;

typedef struct {
    TableEntry *entries;
    int32_t *index;   // slot -> entry number; -1 free, -2 deleted
    uint32_t count;   // live entries
    uint32_t used;    // entries[0..used) in use, deleted ones included
    uint32_t cap;     // capacity of entries
    uint32_t mask;    // index size - 1 (index size is a power of two), 0 when no index yet
} Table;

// ---- Core kinds ------------------------------------------------------------------------------
typedef struct {
    Obj obj;
    uint32_t length;  // in code points
    uint32_t size;    // in bytes, without the terminating NUL
    uint64_t hash;
    bool interned;
    bool ascii;       // every byte < 0x80: index by byte
    char chars[];     // UTF-8, NUL-terminated
} ObjStr;

typedef struct {
    Obj obj;
    uint32_t count;
    uint64_t hash;    // 0 = not computed yet
    Value items[];
} ObjTuple;

typedef struct {
    Obj obj;
    Value *items;
    uint32_t count;
    uint32_t capacity;
} ObjList;

typedef struct {
    Obj obj;
    Table table;
    uint32_t version; // bumped on every insertion or deletion (iteration checks)
} ObjDict;

// A hash set in CPython's layout: an unordered table iterated in slot order, so that small
// int sets print in the same order as CPython's. Slots hold EMPTY (free) or a tombstone.
typedef struct {
    Value key;
    uint64_t hash;
} SetSlot;

typedef struct {
    Obj obj;
    SetSlot *slots;
    uint32_t count;   // live keys
    uint32_t fill;    // live keys + tombstones
    uint32_t mask;    // slots - 1
    uint32_t version;
    bool frozen;
} ObjSet;

typedef struct {
    Obj obj;
    int64_t start, stop, step, length;
} ObjRange;

typedef struct {
    Obj obj;
    Value start, stop, step;
} ObjSlice;

typedef struct {
    Obj obj;
    Value value; // EMPTY while unbound
} ObjCell;

// A compiled function body, made from a parser/proto.h Proto by vm_load_proto.
typedef struct ObjCode {
    Obj obj;
    ObjStr *name;
    ObjStr *qualname;
    ObjStr *filename;
    int firstline;
    int flags; // PROTO_*
    uint32_t *code;
    int ncode;
    struct ProtoPos *pos; // parser/proto.h ProtoPos, one per instruction
    Value *consts;
    int nconsts;
    ObjStr **names;
    int nnames;
    ObjStr **varnames;
    int nlocals;
    ObjStr **cellnames;
    int ncells;
    int *cell2arg;
    ObjStr **freenames;
    int nfrees;
    int argcount;
    int kwonlycount;
    int maxstack;
    int nslots;  // nlocals + ncells + nfrees
    void *cache; // vm/ inline caches, one per instruction that has one (owned by vm.c)
    uintptr_t cache_bias; // vm/: where CACHE finds an instruction's cache from its address
} ObjCode;

typedef struct {
    Obj obj;
    ObjCode *code;
    ObjDict *globals;
    ObjTuple *defaults;   // NULL when none
    ObjDict *kwdefaults;  // NULL when none
    ObjTuple *closure;    // of ObjCell, NULL when none
    ObjStr *name;
    ObjStr *qualname;
    ObjDict *attrs;       // function attributes, NULL until first set
} ObjFunction;

// A C function callable from wk. [args] are the positional arguments (for a method, args[0]
// is self); [kwargs] holds keyword arguments or is NULL. On success it stores the result in
// [*result] and returns true; on failure it raises (vm/exc.h) and returns false. [args] stay
// rooted during the call; anything new the native holds across another allocation must be
// pushed with gc_push_root.
typedef bool (*NativeFn)(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result);

#define NATIVE_METHOD 0x01 // ObjNative flag: a method of a built-in type (args[0] is self)

typedef struct {
    Obj obj;
    NativeFn fn;
    const char *name;   // static
    int16_t min_args;   // checked by the VM before the call
    int16_t max_args;   // -1: variadic
    bool takes_kwargs;  // false: the VM rejects keyword arguments with CPython's TypeError
    Value self;         // EMPTY for plain functions; a bound receiver otherwise
} ObjNative;

typedef struct {
    Obj obj;
    Value self;
    Value func;
} ObjBoundMethod;

// Classes, built-in ones (int, str, list, ...) included: vm/class.c.
typedef struct ObjClass {
    Obj obj;
    ObjStr *name;
    ObjStr *qualname;
    ObjStr *module;           // "builtins", "__main__", ...
    struct ObjClass *base;    // NULL only for object
    ObjDict *dict;            // the namespace: methods, class attributes
    uint32_t version;         // bumped whenever the class or a base changes (inline caches)
    uint8_t instance_kind;    // ObjType of instances: OBJ_INSTANCE, OBJ_EXCEPTION, OBJ_WEAKREF..
    bool builtin;             // a built-in type: its namespace is fixed
    bool has_getattr;         // __getattr__ defined somewhere in the chain
    uint32_t dunders;         // cached "defines __x__" bits (vm/class.h), refreshed on change
    ObjStr **keys;            // attribute names its instances share, in first-set order
    uint32_t nkeys, capkeys;  // (vm/inst.c; interned strings)
} ObjClass;

// An instance (vm/inst.h): attributes inline in values[] (values mode: they are
// klass->keys[0..nvalues)) or all in [fields] (dict mode, when fields is not NULL).
// [klass] and [fields] sit where ObjException has them.
typedef struct {
    Obj obj;
    ObjClass *klass;
    ObjDict *fields;          // dict mode: every attribute; NULL in values mode
    uint32_t nvalues;         // values mode: how many of the class's keys this instance has
    uint32_t capacity;        // room in values[]
    Value values[];
} ObjInstance;

// An exception instance: also an instance (fields, user subclasses).
typedef struct {
    Obj obj;
    ObjClass *klass;
    ObjDict *fields;
    Value args;               // a tuple
    Value cause;              // __cause__ or NONE
    Value context;            // __context__ or NONE
    bool suppress_context;
    Value traceback;          // a list of tuples (code, instruction index), innermost last
} ObjException;

#define MODULE_INITIALIZING 0x01 // ObjModule flag: its code is still running (import cycles)

typedef struct {
    Obj obj;
    ObjStr *name;
    ObjDict *globals;
    ObjStr *path;             // the .wk file, or NULL for built-in modules
} ObjModule;

typedef struct {
    Obj obj;
    Value getter, setter, deleter; // NONE when absent
} ObjProperty;

typedef struct {
    Obj obj;
    Value func;
} ObjWrapper; // staticmethod and classmethod

// A suspended function activation. The frame's slots and stack are saved here between
// resumptions (vm/gen.c).
typedef struct {
    Obj obj;
    ObjFunction *func;
    Value *saved;            // slots + stack, saved_count values
    uint32_t saved_count;
    uint32_t saved_capacity;
    uint32_t ip;             // next instruction
    uint8_t nblocks;
    struct { uint32_t target; uint32_t depth; uint8_t kind; } blocks[32];
    uint8_t state;           // GEN_CREATED, GEN_SUSPENDED, GEN_RUNNING, GEN_CLOSED
    ObjStr *name;
} ObjGenerator;

enum { GEN_CREATED, GEN_SUSPENDED, GEN_RUNNING, GEN_CLOSED };

// The built-in iterators: one kind, tagged.
typedef enum {
    ITER_SEQ,      // tuple, or an object with __getitem__: [source] indexed by [index]
    ITER_LIST,     // [source] a list indexed by [index]; an ITER_SEQ over None once done
    ITER_STR,      // [index] is a byte offset
    ITER_RANGE,    // [source] range; current value in [index] counts steps
    ITER_DICT_KEYS,
    ITER_DICT_VALUES,
    ITER_DICT_ITEMS,
    ITER_SET,
    ITER_ENUMERATE, // [source] an iterator; [extra] the counter (int)
    ITER_ZIP,       // [source] a tuple of iterators
    ITER_MAP,       // [extra] the function, [source] a tuple of iterators
    ITER_FILTER,    // [extra] the function or None, [source] an iterator
    ITER_REVERSED,  // [source] a list or tuple, [index] counts down
    ITER_CALLABLE,  // iter(f, sentinel)
} IterKind;

typedef struct {
    Obj obj;
    uint8_t kind;     // IterKind
    Value source;
    Value extra;
    int64_t index;
    uint32_t version; // the container's version when the iterator started (dict, set)
} ObjIter;

// ---- Object operations (vm/object.c) ---------------------------------------------------------

// Mark everything [o] refers to strongly (gc calls this while tracing). Weak slots are not
// traced.
void object_trace(WkVM *vm, Obj *o);

// Free [o]'s memory and what it owns (gc_free_all).
void object_free(WkVM *vm, Obj *o);
// Free what [o] owns besides its own block, and return that block's size: the sweep frees the
// block itself (its inline path for the pool).
size_t object_free_contents(WkVM *vm, Obj *o);

// The name of [type] for messages ("list"), for built-in kinds.
const char *object_kind_name(ObjType type);

#endif
