// Scope analysis: decides for every name of every code block whether it is local, global
// (explicit or implicit), a cell or a free variable, exactly as CPython's symtable does,
// including comprehension scopes, class-body rules and the implicit __class__ cell.
// Runs between parsing and code generation; annotates Ast.scope; allocates with malloc.
#ifndef WK_PARSER_SCOPE_H
#define WK_PARSER_SCOPE_H

#include <stdbool.h>

#include "lexer/lex.h"
#include "parser/ast.h"

typedef enum { SCOPE_MODULE, SCOPE_FUNCTION, SCOPE_CLASS } ScopeKind;

// Where a name lives, after analysis.
typedef enum {
    SYM_UNRESOLVED,
    SYM_LOCAL,           // a fast local (function) or a locals-dict name (module, class)
    SYM_GLOBAL_EXPLICIT, // declared `global`
    SYM_GLOBAL_IMPLICIT, // not bound in any enclosing function
    SYM_FREE,            // bound in an enclosing function
    SYM_CELL,            // local, captured by an inner function
} SymScope;

// Symbol flags collected from the tree.
enum {
    SYM_DEF_LOCAL = 1,     // assigned, deleted, imported, a def/class name or a loop target
    SYM_DEF_PARAM = 2,
    SYM_DEF_GLOBAL = 4,
    SYM_DEF_NONLOCAL = 8,
    SYM_USE = 16,
    SYM_FREE_CLASS = 32,   // class scope: also passed through to inner functions as free
};

typedef struct {
    char *name;
    int flags;
    SymScope scope;
    int slot;   // local slot for SYM_LOCAL in functions; deref index for SYM_CELL/SYM_FREE
    const Ast *decl; // the nonlocal statement, for its error
} Symbol;

// A string -> int map (open addressing) over caller-owned keys; also used by the compiler.
typedef struct {
    const char **keys;
    int *values;
    int cap;
    int count;
} ScopeMap;

struct Scope {
    ScopeKind kind;
    char *name;          // "<module>", "f", "<lambda>", "<listcomp>", class name (malloc'd)
    char *qualname;      // malloc'd
    Ast *node;
    Scope *parent;
    Scope **children;
    int nchildren;
    Symbol *syms;
    int nsyms;
    ScopeMap index;      // name -> index into syms
    bool generator;      // contains yield
    bool comprehension;  // a comprehension or generator expression scope (param ".0")
    bool class_cell;     // class: has the __class__ cell
    // Frame layout (functions): varnames = params then other locals; cells; frees.
    char **varnames;
    int nlocals;
    char **cellnames;
    int ncells;
    int *cell2arg;
    char **freenames;
    int nfrees;
    int argcount;
    int kwonlycount;
    bool varargs;
    bool varkw;
};

// ---- analysis

// Analyze [module] (an AST_MODULE): build the scope tree, set .scope on every function,
// lambda, class, comprehension and the module. Returns the module scope (free with
// scope_free) or NULL with [err] filled on a SyntaxError.
Scope *scope_analyze(Ast *module, LexError *err);

// Release [s] and all its children.
void scope_free(Scope *s);

// The symbol for [name] in [s], or NULL if the block never mentions it.
const Symbol *scope_lookup(const Scope *s, const char *name);

// Index of [name] in [s]'s cells then frees (the deref index), or -1.
int scope_deref_index(const Scope *s, const char *name);

// ---- the string map

// Value of [key] in [m], or -1.
int scope_map_get(const ScopeMap *m, const char *key);

// Set [key] (kept, not copied) to [value] in [m].
void scope_map_put(ScopeMap *m, const char *key, int value);

// Release [m]'s tables (not the keys).
void scope_map_free(ScopeMap *m);

#endif
