// The compiler's output: a tree of plain-C code prototypes, malloc-owned and free of any VM
// object. The VM turns a Proto into its own code objects (vm_load_proto) and then frees it
// with proto_free, so the front end never touches the collector.
#ifndef WK_PARSER_PROTO_H
#define WK_PARSER_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CONST_NONE,
    CONST_TRUE,
    CONST_FALSE,
    CONST_INT,
    CONST_FLOAT,
    CONST_STR,
    CONST_TUPLE, // of other constants (keyword-name tuples for CALL_KW, folded tuples)
    CONST_CODE,  // a nested function body, loaded by MAKE_FUNCTION
    CONST_ELLIPSIS,
} ConstKind;

typedef struct Proto Proto;
typedef struct Const Const;

struct Const {
    ConstKind kind;
    union {
        int64_t i;
        double f;
        struct {
            char *chars; // UTF-8, NUL-terminated, may contain NUL bytes (use len)
            size_t len;
        } s;
        struct {
            Const *items;
            int count;
        } tuple;
        Proto *code;
    } u;
};

// Source position of one instruction: 1-based line, 0-based byte columns [col, end_col) on
// that line, for tracebacks and their carets.
typedef struct ProtoPos {
    int line;
    int col;
    int end_col;
} ProtoPos;

enum {
    PROTO_VARARGS = 1,    // has *args: its local follows the positional and kw-only params
    PROTO_VARKW = 2,      // has **kwargs: its local follows *args (or the kw-only params)
    PROTO_GENERATOR = 4,  // body contains yield: calling it makes a generator
    PROTO_CLASSBODY = 8,  // a class body: runs with a locals dict, uses LOAD_NAME/STORE_NAME
    PROTO_MODULE = 16,    // module top level: LOAD_NAME/STORE_NAME on the globals
    PROTO_COMPREHENSION = 32, // a comprehension or generator expression body
};

struct Proto {
    char *name;     // "f", "<module>", "<lambda>", "<listcomp>", "<genexpr>", class name
    char *qualname; // "C.method", "f.<locals>.g"
    char *filename; // as given to compile_source
    int firstline;
    int flags;      // PROTO_*

    uint32_t *code; // OPCODE_MAKE words
    ProtoPos *pos;  // one per instruction
    int ncode;

    Const *consts;
    int nconsts;
    char **names; // global, attribute, method and import names
    int nnames;

    // Frame slot layout: [locals 0..nlocals) [cells) [frees) then the value stack.
    // Locals start with the parameters: argcount positional, kwonlycount keyword-only,
    // then *args if PROTO_VARARGS, then **kwargs if PROTO_VARKW.
    char **varnames;
    int nlocals;
    char **cellnames; // locals captured by inner functions (and __class__ in class bodies)
    int ncells;
    int *cell2arg;    // per cell: index of the parameter it starts from, or -1
    char **freenames; // names captured from enclosing functions, in closure-tuple order
    int nfrees;
    int argcount;
    int kwonlycount;
    int maxstack;     // an upper bound on the value stack depth this code needs
};

// Release [p] and everything it owns, nested protos included.
void proto_free(Proto *p);

// Print a readable listing of [p] and its nested code objects to [out] (wk --dis).
void proto_disassemble(const Proto *p, FILE *out);

// The name of opcode [op] ("LOAD_FAST"), for listings and debugging.
const char *proto_opcode_name(int op);

#endif
