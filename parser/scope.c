// Scope analysis in two passes, after CPython's symtable.c: a walk that records how each
// block uses each name (and reports misplaced global/nonlocal/yield and duplicate
// parameters), then a top-down resolution that turns those uses into local, global, free
// and cell variables and lays out each function's frame.
#include "parser/scope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- the string map

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

int scope_map_get(const ScopeMap *m, const char *key)
{
    if (m->cap == 0) {
        return -1;
    }
    unsigned i = hash_str(key) & (unsigned)(m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) {
            return m->values[i];
        }
        i = (i + 1) & (unsigned)(m->cap - 1);
    }
    return -1;
}

static void map_insert(ScopeMap *m, const char *key, int value)
{
    unsigned i = hash_str(key) & (unsigned)(m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) {
        i = (i + 1) & (unsigned)(m->cap - 1);
    }
    if (!m->keys[i]) {
        m->count++;
    }
    m->keys[i] = key;
    m->values[i] = value;
}

void scope_map_put(ScopeMap *m, const char *key, int value)
{
    if ((m->count + 1) * 2 > m->cap) {
        ScopeMap old = *m;
        m->cap = old.cap ? old.cap * 2 : 16;
        m->count = 0;
        m->keys = lex_alloc(sizeof *m->keys * (size_t)m->cap);
        m->values = lex_alloc(sizeof *m->values * (size_t)m->cap);
        memset(m->keys, 0, sizeof *m->keys * (size_t)m->cap);
        for (int i = 0; i < old.cap; i++) {
            if (old.keys[i]) {
                map_insert(m, old.keys[i], old.values[i]);
            }
        }
        scope_map_free(&old);
    }
    map_insert(m, key, value);
}

void scope_map_free(ScopeMap *m)
{
    free(m->keys);
    free(m->values);
    m->keys = NULL;
    m->values = NULL;
    m->cap = m->count = 0;
}

// ---------------------------------------------------------------- scopes and symbols

typedef struct {
    LexError *err;
    bool failed;
    Scope *cur;
} Builder;

static char *str_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = lex_alloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static char *make_qualname(const Scope *parent, const char *name)
{
    if (!parent || parent->kind == SCOPE_MODULE) {
        return str_dup(name);
    }
    const char *mid = parent->kind == SCOPE_FUNCTION ? ".<locals>." : ".";
    size_t n = strlen(parent->qualname) + strlen(mid) + strlen(name) + 1;
    char *q = lex_alloc(n);
    snprintf(q, n, "%s%s%s", parent->qualname, mid, name);
    return q;
}

static Scope *scope_new(Builder *b, ScopeKind kind, const char *name, Ast *node)
{
    Scope *s = lex_alloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->name = str_dup(name);
    s->qualname = make_qualname(b->cur, name);
    s->node = node;
    s->parent = b->cur;
    node->scope = s;
    if (b->cur) {
        Scope *p = b->cur;
        p->children = lex_realloc(p->children, sizeof *p->children * (size_t)(p->nchildren + 1));
        p->children[p->nchildren++] = s;
    }
    return s;
}

void scope_free(Scope *s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < s->nchildren; i++) {
        scope_free(s->children[i]);
    }
    free(s->children);
    free(s->syms);
    scope_map_free(&s->index);
    free(s->varnames);
    free(s->cellnames);
    free(s->cell2arg);
    free(s->freenames);
    free(s->name);
    free(s->qualname);
    free(s);
}

static Symbol *find(Scope *s, const char *name)
{
    int i = scope_map_get(&s->index, name);
    return i < 0 ? NULL : &s->syms[i];
}

const Symbol *scope_lookup(const Scope *s, const char *name)
{
    int i = scope_map_get(&s->index, name);
    return i < 0 ? NULL : &s->syms[i];
}

int scope_deref_index(const Scope *s, const char *name)
{
    for (int i = 0; i < s->ncells; i++) {
        if (strcmp(s->cellnames[i], name) == 0) {
            return i;
        }
    }
    for (int i = 0; i < s->nfrees; i++) {
        if (strcmp(s->freenames[i], name) == 0) {
            return s->ncells + i;
        }
    }
    return -1;
}

// The symbol for [name] in [s], created if new. [name] must outlive the scope (AST arena or
// a static string).
static Symbol *intern(Scope *s, char *name)
{
    Symbol *sym = find(s, name);
    if (sym) {
        return sym;
    }
    if ((s->nsyms & (s->nsyms - 1)) == 0) {
        s->syms = lex_realloc(s->syms, sizeof *s->syms * (size_t)(s->nsyms ? s->nsyms * 2 : 1));
    }
    sym = &s->syms[s->nsyms];
    memset(sym, 0, sizeof *sym);
    sym->name = name;
    sym->slot = -1;
    scope_map_put(&s->index, name, s->nsyms++);
    return sym;
}

static bool fail(Builder *b, const Ast *at, const char *fmt, const char *name)
{
    if (!b->failed) {
        snprintf(b->err->message, sizeof b->err->message, fmt, name);
        b->err->kind = "SyntaxError";
        b->err->line = at->line;
        b->err->col = at->col + 1;
        b->err->end_col = (at->end_line == at->line ? at->end_col : at->col + 1) + 1;
        b->failed = true;
    }
    return false;
}

static void add_def(Builder *b, char *name, int flag)
{
    intern(b->cur, name)->flags |= flag;
}

// ---------------------------------------------------------------- pass 1: the walk

typedef enum { CTX_LOAD, CTX_STORE, CTX_DEL } Ctx;

static void visit_expr(Builder *b, Ast *e, Ctx ctx);
static void visit_stmts(Builder *b, AstList *body);

static void visit_list(Builder *b, AstList *l, Ctx ctx)
{
    for (int i = 0; i < l->count && !b->failed; i++) {
        if (l->items[i]) {
            visit_expr(b, l->items[i], ctx);
        }
    }
}

// Declare parameter [arg] in the current (new) scope.
static void add_param(Builder *b, Ast *arg)
{
    Symbol *sym = find(b->cur, arg->name);
    if (sym && (sym->flags & SYM_DEF_PARAM)) {
        fail(b, arg, "duplicate argument '%s' in function definition", arg->name);
        return;
    }
    add_def(b, arg->name, SYM_DEF_PARAM);
}

// Defaults of [args] are evaluated in the enclosing scope.
static void visit_defaults(Builder *b, Ast *args)
{
    for (int i = 0; i < args->list.count; i++) {
        if (args->list.items[i]->a) {
            visit_expr(b, args->list.items[i]->a, CTX_LOAD);
        }
    }
    for (int i = 0; i < args->list2.count; i++) {
        if (args->list2.items[i]->a) {
            visit_expr(b, args->list2.items[i]->a, CTX_LOAD);
        }
    }
}

// Open the function scope of a def or lambda [node] and declare its parameters.
static Scope *enter_function(Builder *b, Ast *node, const char *name)
{
    Ast *args = node->args;
    Scope *s = scope_new(b, SCOPE_FUNCTION, name, node);
    b->cur = s;
    for (int i = 0; i < args->list.count; i++) {
        add_param(b, args->list.items[i]);
    }
    for (int i = 0; i < args->list2.count; i++) {
        add_param(b, args->list2.items[i]);
    }
    if (args->b) {
        add_param(b, args->b);
    }
    if (args->c) {
        add_param(b, args->c);
    }
    s->argcount = args->list.count;
    s->kwonlycount = args->list2.count;
    s->varargs = args->b != NULL;
    s->varkw = args->c != NULL;
    return s;
}

static const char *comp_name(AstKind k)
{
    return k == AST_LISTCOMP ? "<listcomp>" : k == AST_SETCOMP ? "<setcomp>"
           : k == AST_DICTCOMP ? "<dictcomp>" : "<genexpr>";
}

// A comprehension: the first iterable in the enclosing scope, the rest in its own.
static void visit_comprehension(Builder *b, Ast *e)
{
    Ast *first = e->list.items[0];
    visit_expr(b, first->b, CTX_LOAD);
    Scope *outer = b->cur;
    Scope *s = scope_new(b, SCOPE_FUNCTION, comp_name(e->kind), e);
    s->comprehension = true;
    s->argcount = 1;
    s->generator = e->kind == AST_GENEXP;
    b->cur = s;
    add_def(b, (char *)".0", SYM_DEF_PARAM);
    for (int i = 0; i < e->list.count && !b->failed; i++) {
        Ast *c = e->list.items[i];
        visit_expr(b, c->a, CTX_STORE);
        if (i > 0) {
            visit_expr(b, c->b, CTX_LOAD);
        }
        visit_list(b, &c->list, CTX_LOAD);
    }
    if (e->b) {
        visit_expr(b, e->a, CTX_LOAD);
        visit_expr(b, e->b, CTX_LOAD);
    } else {
        visit_expr(b, e->a, CTX_LOAD);
    }
    b->cur = outer;
}

static void visit_yield(Builder *b, Ast *e)
{
    Scope *s = b->cur;
    if (s->kind != SCOPE_FUNCTION) {
        fail(b, e, "'yield' outside function%s", "");
        return;
    }
    if (s->comprehension) {
        const char *what = s->node->kind == AST_LISTCOMP ? "list comprehension"
                           : s->node->kind == AST_SETCOMP ? "set comprehension"
                           : s->node->kind == AST_DICTCOMP ? "dict comprehension"
                                                           : "generator expression";
        fail(b, e, "'yield' inside %s", what);
        return;
    }
    s->generator = true;
    if (e->a) {
        visit_expr(b, e->a, CTX_LOAD);
    }
}

static void visit_expr(Builder *b, Ast *e, Ctx ctx)
{
    if (b->failed) {
        return;
    }
    switch (e->kind) {
    case AST_NAME:
        add_def(b, e->name, ctx == CTX_LOAD ? SYM_USE : SYM_DEF_LOCAL);
        if (ctx == CTX_LOAD && b->cur->kind == SCOPE_FUNCTION && strcmp(e->name, "super") == 0) {
            add_def(b, (char *)"__class__", SYM_USE);
        }
        return;
    case AST_STARRED: case AST_TUPLE: case AST_LIST:
        if (e->kind == AST_STARRED) {
            visit_expr(b, e->a, ctx);
        } else {
            visit_list(b, &e->list, ctx);
        }
        return;
    case AST_LAMBDA: {
        visit_defaults(b, e->args);
        Scope *outer = b->cur;
        enter_function(b, e, "<lambda>");
        visit_expr(b, e->a, CTX_LOAD);
        b->cur = outer;
        return;
    }
    case AST_LISTCOMP: case AST_SETCOMP: case AST_DICTCOMP: case AST_GENEXP:
        visit_comprehension(b, e);
        return;
    case AST_YIELD:
        visit_yield(b, e);
        return;
    default:
        break;
    }
    Ast *kids[] = {e->a, e->b, e->c};
    for (int i = 0; i < 3; i++) {
        if (kids[i]) {
            visit_expr(b, kids[i], CTX_LOAD);
        }
    }
    visit_list(b, &e->list, CTX_LOAD);
    visit_list(b, &e->list2, CTX_LOAD);
}

// `global` / `nonlocal` names of [stmt].
static void visit_decl(Builder *b, Ast *stmt)
{
    bool global = stmt->kind == AST_GLOBAL;
    if (!global && b->cur->kind == SCOPE_MODULE) {
        fail(b, stmt, "nonlocal declaration not allowed at module level%s", "");
        return;
    }
    for (int i = 0; i < stmt->list.count && !b->failed; i++) {
        char *name = stmt->list.items[i]->name;
        Symbol *sym = intern(b->cur, name);
        int other = global ? SYM_DEF_NONLOCAL : SYM_DEF_GLOBAL;
        const char *what = global ? "global" : "nonlocal";
        char fmt[128];
        if (sym->flags & other) {
            fail(b, stmt, "name '%s' is nonlocal and global", name);
        } else if (sym->flags & SYM_DEF_PARAM) {
            snprintf(fmt, sizeof fmt, "name '%%s' is parameter and %s", what);
            fail(b, stmt, fmt, name);
        } else if (sym->flags & SYM_USE) {
            snprintf(fmt, sizeof fmt, "name '%%s' is used prior to %s declaration", what);
            fail(b, stmt, fmt, name);
        } else if (sym->flags & SYM_DEF_LOCAL) {
            snprintf(fmt, sizeof fmt, "name '%%s' is assigned to before %s declaration", what);
            fail(b, stmt, fmt, name);
        }
        sym->flags |= global ? SYM_DEF_GLOBAL : SYM_DEF_NONLOCAL;
        sym->decl = stmt;
    }
}

static void visit_funcdef(Builder *b, Ast *s)
{
    visit_list(b, &s->list2, CTX_LOAD);
    visit_defaults(b, s->args);
    add_def(b, s->name, SYM_DEF_LOCAL);
    Scope *outer = b->cur;
    enter_function(b, s, s->name);
    visit_stmts(b, &s->list);
    b->cur = outer;
}

static void visit_classdef(Builder *b, Ast *s)
{
    visit_list(b, &s->list2, CTX_LOAD);
    visit_list(b, &s->list3, CTX_LOAD);
    add_def(b, s->name, SYM_DEF_LOCAL);
    Scope *outer = b->cur;
    b->cur = scope_new(b, SCOPE_CLASS, s->name, s);
    visit_stmts(b, &s->list);
    b->cur = outer;
}

static void visit_try(Builder *b, Ast *s)
{
    visit_stmts(b, &s->list);
    for (int i = 0; i < s->list2.count; i++) {
        Ast *h = s->list2.items[i];
        if (h->a) {
            visit_expr(b, h->a, CTX_LOAD);
        }
        if (h->name) {
            add_def(b, h->name, SYM_DEF_LOCAL);
        }
        visit_stmts(b, &h->list);
    }
    visit_stmts(b, &s->list3);
    visit_stmts(b, &s->list4);
}

static void visit_stmt(Builder *b, Ast *s)
{
    switch (s->kind) {
    case AST_FUNCDEF: visit_funcdef(b, s); return;
    case AST_CLASSDEF: visit_classdef(b, s); return;
    case AST_TRY: visit_try(b, s); return;
    case AST_GLOBAL: case AST_NONLOCAL: visit_decl(b, s); return;
    case AST_ASSIGN:
        visit_expr(b, s->a, CTX_LOAD);
        visit_list(b, &s->list, CTX_STORE);
        return;
    case AST_AUGASSIGN:
        if (s->a->kind == AST_NAME) {
            add_def(b, s->a->name, SYM_USE | SYM_DEF_LOCAL);
        } else {
            visit_expr(b, s->a, CTX_LOAD);
        }
        visit_expr(b, s->b, CTX_LOAD);
        return;
    case AST_DELETE: visit_list(b, &s->list, CTX_DEL); return;
    case AST_FOR:
        visit_expr(b, s->b, CTX_LOAD);
        visit_expr(b, s->a, CTX_STORE);
        break;
    case AST_WITH:
        for (int i = 0; i < s->list.count; i++) {
            Ast *item = s->list.items[i];
            visit_expr(b, item->a, CTX_LOAD);
            if (item->b) {
                visit_expr(b, item->b, CTX_STORE);
            }
        }
        visit_stmts(b, &s->list2);
        return;
    case AST_IMPORT: case AST_IMPORTFROM:
        for (int i = 0; i < s->list.count; i++) {
            add_def(b, s->list.items[i]->str, SYM_DEF_LOCAL);
        }
        return;
    case AST_IF: case AST_WHILE:
        visit_expr(b, s->a, CTX_LOAD);
        break;
    default:
        if (s->a) {
            visit_expr(b, s->a, CTX_LOAD);
        }
        if (s->b) {
            visit_expr(b, s->b, CTX_LOAD);
        }
        return;
    }
    visit_stmts(b, &s->list);
    visit_stmts(b, &s->list2);
}

static void visit_stmts(Builder *b, AstList *body)
{
    for (int i = 0; i < body->count && !b->failed; i++) {
        visit_stmt(b, body->items[i]);
    }
}

// ---------------------------------------------------------------- pass 2: resolution

// Resolve [name], not bound in [s], through the enclosing scopes. Class scopes are skipped
// except that they bind __class__. Sets [*binder] to the scope that binds a free name.
static SymScope resolve_outer(const Scope *s, const char *name, Scope **binder)
{
    for (Scope *p = s->parent; p; p = p->parent) {
        if (p->kind == SCOPE_CLASS) {
            if (strcmp(name, "__class__") == 0) {
                *binder = p;
                return SYM_FREE;
            }
            continue;
        }
        if (p->kind == SCOPE_MODULE) {
            return SYM_GLOBAL_IMPLICIT;
        }
        const Symbol *sym = find(p, name);
        if (!sym || (sym->flags & SYM_DEF_NONLOCAL)) {
            continue;
        }
        if (sym->flags & SYM_DEF_GLOBAL) {
            return SYM_GLOBAL_IMPLICIT;
        }
        if (sym->flags & (SYM_DEF_LOCAL | SYM_DEF_PARAM)) {
            *binder = p;
            return SYM_FREE;
        }
    }
    return SYM_GLOBAL_IMPLICIT;
}

// Free variable [name] of [s] bound in [binder]: every scope in between passes it through,
// and the binder gets a cell.
static void propagate_free(Scope *s, char *name, Scope *binder)
{
    for (Scope *p = s->parent; p != binder; p = p->parent) {
        Symbol *sym = intern(p, name);
        if (p->kind == SCOPE_CLASS && (sym->flags & (SYM_DEF_LOCAL | SYM_DEF_PARAM))) {
            sym->flags |= SYM_FREE_CLASS;
        } else {
            sym->scope = SYM_FREE;
        }
    }
    if (binder->kind == SCOPE_CLASS) {
        binder->class_cell = true;
    } else {
        find(binder, name)->scope = SYM_CELL;
    }
}

// Resolve every symbol of [s], then its children (pre-order, so that binders are resolved
// before the cells their children ask for).
static bool resolve(Builder *b, Scope *s)
{
    for (int i = 0; i < s->nsyms; i++) {
        Symbol *sym = &s->syms[i];
        Scope *binder = NULL;
        if (sym->scope == SYM_FREE || sym->scope == SYM_CELL) {
            continue;
        }
        if (sym->flags & SYM_DEF_GLOBAL) {
            sym->scope = SYM_GLOBAL_EXPLICIT;
        } else if (sym->flags & SYM_DEF_NONLOCAL) {
            sym->scope = resolve_outer(s, sym->name, &binder);
            if (sym->scope != SYM_FREE) {
                return fail(b, sym->decl, "no binding for nonlocal '%s' found", sym->name);
            }
        } else if (sym->flags & (SYM_DEF_LOCAL | SYM_DEF_PARAM)) {
            sym->scope = SYM_LOCAL;
        } else if (s->kind == SCOPE_MODULE) {
            sym->scope = SYM_GLOBAL_IMPLICIT;
        } else {
            sym->scope = resolve_outer(s, sym->name, &binder);
        }
        if (binder) {
            propagate_free(s, sym->name, binder);
        }
    }
    for (int i = 0; i < s->nchildren; i++) {
        if (!resolve(b, s->children[i])) {
            return false;
        }
    }
    return true;
}

static void push_name(char ***arr, int *n, char *name)
{
    *arr = lex_realloc(*arr, sizeof **arr * (size_t)(*n + 1));
    (*arr)[(*n)++] = name;
}

// Lay out the frame of [s] and its children: parameters, locals, cells, frees.
static void layout(Scope *s)
{
    int nparams = s->argcount + s->kwonlycount + s->varargs + s->varkw;
    if (s->kind == SCOPE_CLASS && s->class_cell) {
        push_name(&s->cellnames, &s->ncells, (char *)"__class__");
        s->cell2arg = lex_alloc(sizeof(int));
        s->cell2arg[0] = -1;
    }
    for (int i = 0; i < s->nsyms && s->kind == SCOPE_FUNCTION; i++) {
        Symbol *sym = &s->syms[i];
        if (i < nparams || sym->scope == SYM_LOCAL) {
            sym->slot = s->nlocals;
            push_name(&s->varnames, &s->nlocals, sym->name);
        }
        if (sym->scope == SYM_CELL) {
            s->cell2arg = lex_realloc(s->cell2arg, sizeof(int) * (size_t)(s->ncells + 1));
            s->cell2arg[s->ncells] = i < nparams ? i : -1;
            push_name(&s->cellnames, &s->ncells, sym->name);
        }
    }
    for (int i = 0; i < s->nsyms; i++) {
        Symbol *sym = &s->syms[i];
        if (sym->scope == SYM_FREE || (sym->flags & SYM_FREE_CLASS)) {
            push_name(&s->freenames, &s->nfrees, sym->name);
        }
    }
    for (int i = 0; i < s->nsyms; i++) {
        Symbol *sym = &s->syms[i];
        if (sym->scope == SYM_CELL || sym->scope == SYM_FREE) {
            sym->slot = scope_deref_index(s, sym->name);
        }
    }
    for (int i = 0; i < s->nchildren; i++) {
        layout(s->children[i]);
    }
}

Scope *scope_analyze(Ast *module, LexError *err)
{
    Builder b = {.err = err};
    b.cur = NULL;
    Scope *top = scope_new(&b, SCOPE_MODULE, "<module>", module);
    b.cur = top;
    visit_stmts(&b, &module->list);
    if (!b.failed) {
        resolve(&b, top);
    }
    if (b.failed) {
        scope_free(top);
        return NULL;
    }
    layout(top);
    return top;
}
