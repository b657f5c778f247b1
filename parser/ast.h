// The abstract syntax tree of wk's Python subset. Nodes, lists and strings live in an arena
// owned by the parse result, so the whole tree is released at once (error paths included).
// The parser builds it, scope analysis annotates it (Ast.scope), the compiler reads it.
#ifndef WK_PARSER_AST_H
#define WK_PARSER_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Ast Ast;
typedef struct Scope Scope;

// A growable array of nodes in the arena.
typedef struct {
    Ast **items;
    int count;
    int cap;
} AstList;

// Field use per kind (unlisted fields are unused). Positions: 1-based line, 0-based cols.
typedef enum {
    // ---- expressions
    AST_NAME,       // name
    AST_CONST,      // op: AST_C_*; ival/int_overflow (INT), fval (FLOAT), str/len (STR)
    AST_FSTRING,    // list: parts (AST_CONST strings and AST_FORMATTED)
    AST_FORMATTED,  // a: value; op: conversion 0 none, 1 !s, 2 !r; b: spec (AST_FSTRING) or NULL
    AST_TUPLE,      // list: elements (AST_STARRED allowed)
    AST_LIST,       // list: elements
    AST_SET,        // list: elements
    AST_DICT,       // list: keys (NULL for **m), list2: values
    AST_STARRED,    // a: value  (*a)
    AST_BINOP,      // a op b; op: TOK_PLUS ... (the operator token)
    AST_UNARYOP,    // op: TOK_MINUS, TOK_PLUS, TOK_TILDE or TOK_NOT; a: operand
    AST_BOOLOP,     // op: TOK_AND or TOK_OR; list: operands (>= 2)
    AST_COMPARE,    // a: left; list: right operands; ops: one AST_CMP_* per right operand
    AST_IFEXP,      // b if a else c
    AST_LAMBDA,     // args: AST_ARGUMENTS; a: body; scope
    AST_CALL,       // a: function; list: positional args (AST_STARRED for *x);
                    // list2: AST_KEYWORD (name NULL for **m)
    AST_KEYWORD,    // name = a
    AST_ATTRIBUTE,  // a.name
    AST_SUBSCRIPT,  // a[b]
    AST_SLICE,      // a:b:c, each may be NULL
    AST_LISTCOMP,   // a: element; list: AST_COMPREHENSION clauses; scope
    AST_SETCOMP,    // same
    AST_DICTCOMP,   // a: key, b: value; list: clauses; scope
    AST_GENEXP,     // a: element; list: clauses; scope
    AST_COMPREHENSION, // for a in b if list...
    AST_YIELD,      // a: value or NULL; op: 1 for `yield from a`
    // ---- statements
    AST_EXPR,       // a: the expression
    AST_ASSIGN,     // list: targets (left to right); a: value
    AST_AUGASSIGN,  // a op= b; op: the binary operator token (TOK_PLUS ...)
    AST_DELETE,     // list: targets
    AST_PASS,
    AST_BREAK,
    AST_CONTINUE,
    AST_RETURN,     // a: value or NULL
    AST_RAISE,      // a: exception or NULL; b: cause or NULL
    AST_GLOBAL,     // names: list of AST_NAME
    AST_NONLOCAL,   // same
    AST_ASSERT,     // a: test; b: message or NULL
    AST_IMPORT,     // list: AST_ALIAS
    AST_IMPORTFROM, // name: module; list: AST_ALIAS
    AST_ALIAS,      // name [as str]; op 1 with `as`; str: the name bound (first dotted part)
    AST_IF,         // a: test; list: body; list2: orelse
    AST_WHILE,      // a: test; list: body; list2: orelse
    AST_FOR,        // a: target; b: iterable; list: body; list2: orelse
    AST_TRY,        // list: body; list2: AST_HANDLER; list3: orelse; list4: finalbody
    AST_HANDLER,    // a: type or NULL; name: `as` name or NULL; list: body
    AST_WITH,       // list: AST_WITHITEM; list2: body
    AST_WITHITEM,   // a: context expression; b: target or NULL
    AST_FUNCDEF,    // name; args: AST_ARGUMENTS; list: body; list2: decorators; scope
    AST_CLASSDEF,   // name; list: body; list2: decorators; list3: bases; scope
    AST_ARGUMENTS,  // list: positional AST_ARG (a: default or NULL); op: positional-only count;
                    // list2: keyword-only AST_ARG; b: *args AST_ARG or NULL; c: **kw or NULL
    AST_ARG,        // name; a: default or NULL
    AST_MODULE,     // list: body; scope
} AstKind;

enum { AST_C_NONE, AST_C_TRUE, AST_C_FALSE, AST_C_INT, AST_C_FLOAT, AST_C_STR, AST_C_ELLIPSIS };

enum { AST_CMP_LT, AST_CMP_LE, AST_CMP_EQ, AST_CMP_NE, AST_CMP_GT, AST_CMP_GE, AST_CMP_IS,
       AST_CMP_IS_NOT, AST_CMP_IN, AST_CMP_NOT_IN };

struct Ast {
    AstKind kind;
    int line, col, end_line, end_col;
    int op;
    char *name;
    char *str;     // string constant bytes (NUL-terminated, may contain NULs)
    size_t len;
    uint64_t ival;
    bool int_overflow;
    double fval;
    Ast *a, *b, *c;
    Ast *args;
    AstList list, list2, list3, list4;
    int *ops;      // AST_COMPARE operators
    Scope *scope;  // set by scope analysis on function, lambda, class, comprehension, module
};

typedef struct AstArena AstArena;

// ---- arena

// A new empty arena; free with ast_arena_free.
AstArena *ast_arena_new(void);

// Release [arena] and every node, list and string allocated from it.
void ast_arena_free(AstArena *arena);

// [n] zeroed bytes from [arena]; aborts on out of memory.
void *ast_alloc(AstArena *arena, size_t n);

// A copy of [n] bytes of [s] in [arena], NUL-terminated.
char *ast_strdup(AstArena *arena, const char *s, size_t n);

// ---- nodes

// A new node of [kind] at [line]:[col], end position copied from the same.
Ast *ast_new(AstArena *arena, AstKind kind, int line, int col);

// Append [node] to [list], growing it in [arena].
void ast_list_add(AstArena *arena, AstList *list, Ast *node);

// Set the end position of [node] to that of [last].
void ast_end_at(Ast *node, const Ast *last);

// A short name for [kind] ("Name", "Call") for debugging and tests.
const char *ast_kind_name(AstKind kind);

#endif
