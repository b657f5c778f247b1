// The code generator: walks the analyzed AST and emits the instructions of vm/opcode.h into
// a tree of Protos (parser/proto.h). Owns control-flow lowering (loops, try/finally
// duplication, with, comprehensions), name-op selection from the scope tables, constant
// tables and the max-stack computation. Also the front end's entry point, compile_source.
#include "parser/compile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lexer/lex.h"
#include "parser/ast.h"
#include "parser/parse.h"
#include "parser/scope.h"
#include "vm/opcode.h"

typedef enum {
    B_WHILE,
    B_FOR,
    B_TRY_EXCEPT,  // the body of a try with except clauses
    B_TRY_FINALLY, // the body of a try with a finally clause
    B_HANDLER,     // an except clause's body
    B_FINALLY_EXC, // the finally body run for an exception (the exception on the stack)
    B_WITH,
} BlockKind;

// A control-flow block: what leaving it early (break, continue, return) must undo.
typedef struct {
    BlockKind kind;
    int start;        // loops: the continue target
    int *breaks;      // loops: jumps to patch to the loop's end
    int nbreaks;
    Ast *node;        // B_TRY_FINALLY: the try statement; B_HANDLER: the handler
} Block;

// One code object under construction.
typedef struct Unit {
    struct Unit *parent;
    Scope *scope;
    Proto *proto;
    uint32_t *code;
    ProtoPos *pos;
    int ncode, capcode;
    Const *consts;
    int nconsts, capconsts;
    ScopeMap str_consts;  // string constant -> index
    ScopeMap int_consts;  // decimal text (owned, in int_keys) -> index
    char **int_keys;
    int nint_keys;
    int special[4];       // indexes of None, True, False, Ellipsis + 1 (0: absent)
    char **names;
    int nnames;
    ScopeMap name_index;
    Block *blocks;
    int nblocks, capblocks;
    ProtoPos cur;         // the position given to emitted instructions
} Unit;

typedef struct {
    Unit *u;
    LexError *err;
    bool failed;
    CompileMode mode;
    const char *filename;
    const char *src;      // the source text, for the source of assert explanations
    size_t srclen;
    size_t *lines;        // byte offset of each line's start, built on first use
    int nlines;
} Compiler;

static bool compile_expr(Compiler *c, Ast *e);
static bool compile_yield_from(Compiler *c, Ast *e);
static bool compile_stmts(Compiler *c, AstList *body);
static bool compile_store(Compiler *c, Ast *t);

// ---------------------------------------------------------------- errors and emission

static bool error_at(Compiler *c, const Ast *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool error_at(Compiler *c, const Ast *n, const char *fmt, ...)
{
    if (c->failed) {
        return false;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
    va_end(ap);
    c->err->kind = "SyntaxError";
    c->err->line = n->line;
    c->err->col = n->col + 1;
    c->err->end_col = (n->end_line == n->line && n->end_col > n->col ? n->end_col : n->col + 1) + 1;
    c->failed = true;
    return false;
}

static ProtoPos pos_of(const Ast *n)
{
    ProtoPos p = {n->line, n->col, n->end_line == n->line ? n->end_col : n->col};
    return p;
}

static int emit(Compiler *c, int op, int arg)
{
    Unit *u = c->u;
    if (u->ncode == u->capcode) {
        u->capcode = u->capcode ? u->capcode * 2 : 64;
        u->code = lex_realloc(u->code, sizeof *u->code * (size_t)u->capcode);
        u->pos = lex_realloc(u->pos, sizeof *u->pos * (size_t)u->capcode);
    }
    if (arg < 0 || arg > OPCODE_ARG_MAX) {
        arg = 0;
        if (!c->failed) {
            c->failed = true;
            lex_error_set(c->err, "SyntaxError", u->cur.line, u->cur.col + 1,
                          "too many constants, names or instructions in one code object");
        }
    }
    u->code[u->ncode] = OPCODE_MAKE(op, arg);
    u->pos[u->ncode] = u->cur;
    return u->ncode++;
}

static int here(const Compiler *c)
{
    return c->u->ncode;
}

// Point the jump at [at] to [target].
static void patch(Compiler *c, int at, int target)
{
    uint32_t w = c->u->code[at];
    c->u->code[at] = OPCODE_MAKE(OPCODE_OP(w), target);
}

// ---------------------------------------------------------------- constants and names

static int add_const(Unit *u, Const k)
{
    if (u->nconsts == u->capconsts) {
        u->capconsts = u->capconsts ? u->capconsts * 2 : 16;
        u->consts = lex_realloc(u->consts, sizeof *u->consts * (size_t)u->capconsts);
    }
    u->consts[u->nconsts] = k;
    return u->nconsts++;
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = lex_alloc(n + 1);
    if (n) {
        memcpy(d, s, n);
    }
    d[n] = '\0';
    return d;
}

// Index of the string constant [s] ([n] bytes), deduplicated.
static int const_str(Compiler *c, const char *s, size_t n)
{
    Unit *u = c->u;
    bool plain = strlen(s) == n;
    int i = plain ? scope_map_get(&u->str_consts, s) : -1;
    if (i >= 0) {
        return i;
    }
    Const k = {.kind = CONST_STR};
    k.u.s.chars = dup_bytes(s, n);
    k.u.s.len = n;
    i = add_const(u, k);
    if (plain) {
        scope_map_put(&u->str_consts, u->consts[i].u.s.chars, i);
    }
    return i;
}

static int const_int(Compiler *c, int64_t v)
{
    Unit *u = c->u;
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)v);
    int i = scope_map_get(&u->int_consts, key);
    if (i >= 0) {
        return i;
    }
    Const k = {.kind = CONST_INT};
    k.u.i = v;
    i = add_const(u, k);
    u->int_keys = lex_realloc(u->int_keys, sizeof *u->int_keys * (size_t)(u->nint_keys + 1));
    u->int_keys[u->nint_keys] = dup_bytes(key, strlen(key));
    scope_map_put(&u->int_consts, u->int_keys[u->nint_keys++], i);
    return i;
}

// None, True, False or Ellipsis ([kind] a CONST_* of those).
static int const_special(Compiler *c, ConstKind kind)
{
    int slot = kind == CONST_NONE ? 0 : kind == CONST_TRUE ? 1 : kind == CONST_FALSE ? 2 : 3;
    Unit *u = c->u;
    if (!u->special[slot]) {
        Const k = {.kind = kind};
        u->special[slot] = add_const(u, k) + 1;
    }
    return u->special[slot] - 1;
}

static void load_none(Compiler *c)
{
    emit(c, OPCODE_LOAD_CONST, const_special(c, CONST_NONE));
}

static int name_index(Compiler *c, const char *name)
{
    Unit *u = c->u;
    int i = scope_map_get(&u->name_index, name);
    if (i >= 0) {
        return i;
    }
    u->names = lex_realloc(u->names, sizeof *u->names * (size_t)(u->nnames + 1));
    u->names[u->nnames] = dup_bytes(name, strlen(name));
    scope_map_put(&u->name_index, u->names[u->nnames], u->nnames);
    return u->nnames++;
}

// ---------------------------------------------------------------- names

typedef enum { CTX_LOAD, CTX_STORE, CTX_DEL } Ctx;

// Emit the load, store or delete of [name] chosen by the current scope's tables.
static void compile_name(Compiler *c, const char *name, Ctx ctx)
{
    static const int fast[] = {OPCODE_LOAD_FAST, OPCODE_STORE_FAST, OPCODE_DELETE_FAST};
    static const int deref[] = {OPCODE_LOAD_DEREF, OPCODE_STORE_DEREF, OPCODE_DELETE_DEREF};
    static const int global[] = {OPCODE_LOAD_GLOBAL, OPCODE_STORE_GLOBAL, OPCODE_DELETE_GLOBAL};
    static const int byname[] = {OPCODE_LOAD_NAME, OPCODE_STORE_NAME, OPCODE_DELETE_NAME};
    const Scope *s = c->u->scope;
    const Symbol *sym = scope_lookup(s, name);
    SymScope where = sym ? sym->scope : SYM_GLOBAL_IMPLICIT;
    if (where == SYM_CELL || where == SYM_FREE) {
        if (s->kind != SCOPE_CLASS || where == SYM_FREE) {
            emit(c, deref[ctx], scope_deref_index(s, name));
            return;
        }
    }
    if (s->kind == SCOPE_FUNCTION && where == SYM_LOCAL) {
        emit(c, fast[ctx], sym->slot);
    } else if (where == SYM_GLOBAL_EXPLICIT ||
               (s->kind == SCOPE_FUNCTION && where == SYM_GLOBAL_IMPLICIT)) {
        emit(c, global[ctx], name_index(c, name));
    } else {
        emit(c, byname[ctx], name_index(c, name));
    }
}

// ---------------------------------------------------------------- functions and classes

static Proto *compile_unit_body(Compiler *c, Scope *scope, Ast *node);

// Push the closure tuple of [child] (cells and frees of the current unit) if it needs one.
static int load_closure(Compiler *c, const Scope *child)
{
    if (child->nfrees == 0) {
        return 0;
    }
    for (int i = 0; i < child->nfrees; i++) {
        emit(c, OPCODE_LOAD_CLOSURE, scope_deref_index(c->u->scope, child->freenames[i]));
    }
    emit(c, OPCODE_BUILD_TUPLE, child->nfrees);
    return 8;
}

// Defaults of [args]: the positional tuple and the keyword-only dict. Returns flag bits.
static int compile_defaults(Compiler *c, Ast *args)
{
    int flags = 0, n = 0;
    for (int i = 0; i < args->list.count; i++) {
        if (args->list.items[i]->a) {
            compile_expr(c, args->list.items[i]->a);
            n++;
        }
    }
    if (n) {
        emit(c, OPCODE_BUILD_TUPLE, n);
        flags |= 1;
    }
    n = 0;
    for (int i = 0; i < args->list2.count; i++) {
        Ast *arg = args->list2.items[i];
        if (arg->a) {
            emit(c, OPCODE_LOAD_CONST, const_str(c, arg->name, strlen(arg->name)));
            compile_expr(c, arg->a);
            n++;
        }
    }
    if (n) {
        emit(c, OPCODE_BUILD_MAP, n);
        flags |= 2;
    }
    return flags;
}

// Compile the body of [node] (scope [scope]) and emit MAKE_FUNCTION for it, after [flags]
// worth of defaults already on the stack.
static bool make_function(Compiler *c, Ast *node, int flags)
{
    Scope *scope = node->scope;
    flags |= load_closure(c, scope);
    Proto *p = compile_unit_body(c, scope, node);
    if (!p) {
        return false;
    }
    Const k = {.kind = CONST_CODE};
    k.u.code = p;
    emit(c, OPCODE_LOAD_CONST, add_const(c->u, k));
    emit(c, OPCODE_MAKE_FUNCTION, flags);
    return !c->failed;
}

static void apply_decorators(Compiler *c, AstList *decorators)
{
    for (int i = decorators->count - 1; i >= 0; i--) {
        emit(c, OPCODE_CALL, 1);
    }
}

static bool compile_funcdef(Compiler *c, Ast *s)
{
    for (int i = 0; i < s->list2.count; i++) {
        compile_expr(c, s->list2.items[i]);
    }
    c->u->cur = pos_of(s);
    int flags = compile_defaults(c, s->args);
    if (!make_function(c, s, flags)) {
        return false;
    }
    apply_decorators(c, &s->list2);
    compile_name(c, s->name, CTX_STORE);
    return !c->failed;
}

static bool compile_classdef(Compiler *c, Ast *s)
{
    for (int i = 0; i < s->list2.count; i++) {
        compile_expr(c, s->list2.items[i]);
    }
    c->u->cur = pos_of(s);
    if (!make_function(c, s, 0)) {
        return false;
    }
    emit(c, OPCODE_LOAD_CONST, const_str(c, s->name, strlen(s->name)));
    for (int i = 0; i < s->list3.count; i++) {
        compile_expr(c, s->list3.items[i]);
    }
    c->u->cur = pos_of(s);
    emit(c, OPCODE_BUILD_CLASS, s->list3.count);
    apply_decorators(c, &s->list2);
    compile_name(c, s->name, CTX_STORE);
    return !c->failed;
}

// ---------------------------------------------------------------- expressions

static int binary_opcode(int tok)
{
    switch (tok) {
    case TOK_PLUS: return OPCODE_ADD;
    case TOK_MINUS: return OPCODE_SUB;
    case TOK_STAR: return OPCODE_MUL;
    case TOK_SLASH: return OPCODE_TRUEDIV;
    case TOK_DSLASH: return OPCODE_FLOORDIV;
    case TOK_PERCENT: return OPCODE_MOD;
    case TOK_DSTAR: return OPCODE_POW;
    case TOK_LSHIFT: return OPCODE_LSHIFT;
    case TOK_RSHIFT: return OPCODE_RSHIFT;
    case TOK_AMP: return OPCODE_BAND;
    case TOK_PIPE: return OPCODE_BOR;
    default: return OPCODE_BXOR;
    }
}

static int compare_opcode(int op)
{
    static const int ops[] = {OPCODE_LT, OPCODE_LE, OPCODE_EQ, OPCODE_NE, OPCODE_GT, OPCODE_GE,
                              OPCODE_IS, OPCODE_IS_NOT, OPCODE_IN, OPCODE_NOT_IN};
    return ops[op];
}

static bool compile_const(Compiler *c, Ast *e, bool negate)
{
    switch (e->op) {
    case AST_C_INT:
        if (e->int_overflow || e->ival > (uint64_t)INT64_MAX + (negate ? 1u : 0u)) {
            return error_at(c, e, "integer literal too large");
        }
        int64_t v = negate ? (int64_t)(0 - e->ival) : (int64_t)e->ival;
        emit(c, OPCODE_LOAD_CONST, const_int(c, v));
        return true;
    case AST_C_FLOAT: {
        Const k = {.kind = CONST_FLOAT};
        k.u.f = negate ? -e->fval : e->fval;
        emit(c, OPCODE_LOAD_CONST, add_const(c->u, k));
        return true;
    }
    case AST_C_STR: emit(c, OPCODE_LOAD_CONST, const_str(c, e->str, e->len)); return true;
    case AST_C_NONE: load_none(c); return true;
    case AST_C_TRUE: emit(c, OPCODE_LOAD_CONST, const_special(c, CONST_TRUE)); return true;
    case AST_C_FALSE: emit(c, OPCODE_LOAD_CONST, const_special(c, CONST_FALSE)); return true;
    default: emit(c, OPCODE_LOAD_CONST, const_special(c, CONST_ELLIPSIS)); return true;
    }
}

static bool has_starred(const AstList *l)
{
    for (int i = 0; i < l->count; i++) {
        if (l->items[i]->kind == AST_STARRED) {
            return true;
        }
    }
    return false;
}

// Elements of a tuple/list/set display with *items: build a list (or set) incrementally.
static bool compile_starred_display(Compiler *c, Ast *e)
{
    bool set = e->kind == AST_SET;
    emit(c, set ? OPCODE_BUILD_SET : OPCODE_BUILD_LIST, 0);
    for (int i = 0; i < e->list.count; i++) {
        Ast *item = e->list.items[i];
        bool star = item->kind == AST_STARRED;
        compile_expr(c, star ? item->a : item);
        if (star) {
            emit(c, set ? OPCODE_SET_UPDATE : OPCODE_LIST_EXTEND, 1);
        } else {
            emit(c, set ? OPCODE_SET_ADD : OPCODE_LIST_APPEND, 1);
        }
    }
    if (e->kind == AST_TUPLE) {
        emit(c, OPCODE_LIST_TO_TUPLE, 0);
    }
    return !c->failed;
}

// A tuple display of plain literals (None, True, False, ints, floats, strs) becomes one
// constant, as CPython folds it: no tuple is built each time it is evaluated.
static bool foldable_tuple(const Ast *e)
{
    if (e->kind != AST_TUPLE || e->list.count == 0 || e->list.count > 256) {
        return false;
    }
    for (int i = 0; i < e->list.count; i++) {
        const Ast *x = e->list.items[i];
        if (x->kind != AST_CONST || x->op == AST_C_ELLIPSIS ||
            (x->op == AST_C_INT && (x->int_overflow || x->ival > (uint64_t)INT64_MAX))) {
            return false;
        }
    }
    return true;
}

static void fold_tuple(Compiler *c, Ast *e)
{
    Const k = {.kind = CONST_TUPLE};
    k.u.tuple.count = e->list.count;
    k.u.tuple.items = lex_alloc(sizeof(Const) * (size_t)e->list.count);
    for (int i = 0; i < e->list.count; i++) {
        Ast *x = e->list.items[i];
        Const *item = &k.u.tuple.items[i];
        switch (x->op) {
        case AST_C_INT: item->kind = CONST_INT; item->u.i = (int64_t)x->ival; break;
        case AST_C_FLOAT: item->kind = CONST_FLOAT; item->u.f = x->fval; break;
        case AST_C_STR:
            item->kind = CONST_STR;
            item->u.s.chars = dup_bytes(x->str, x->len);
            item->u.s.len = x->len;
            break;
        case AST_C_TRUE: item->kind = CONST_TRUE; break;
        case AST_C_FALSE: item->kind = CONST_FALSE; break;
        default: item->kind = CONST_NONE; break;
        }
    }
    c->u->cur = pos_of(e);
    emit(c, OPCODE_LOAD_CONST, add_const(c->u, k));
}

static bool compile_display(Compiler *c, Ast *e)
{
    if (has_starred(&e->list)) {
        return compile_starred_display(c, e);
    }
    if (foldable_tuple(e)) {
        fold_tuple(c, e);
        return !c->failed;
    }
    for (int i = 0; i < e->list.count; i++) {
        compile_expr(c, e->list.items[i]);
    }
    int op = e->kind == AST_TUPLE ? OPCODE_BUILD_TUPLE : e->kind == AST_LIST ? OPCODE_BUILD_LIST
                                                                            : OPCODE_BUILD_SET;
    emit(c, op, e->list.count);
    return !c->failed;
}

static bool compile_dict(Compiler *c, Ast *e)
{
    bool merge = false;
    for (int i = 0; i < e->list.count; i++) {
        merge |= e->list.items[i] == NULL;
    }
    if (merge) {
        emit(c, OPCODE_BUILD_MAP, 0);
    }
    for (int i = 0; i < e->list.count; i++) {
        Ast *k = e->list.items[i];
        if (k) {
            compile_expr(c, k);
        }
        compile_expr(c, e->list2.items[i]);
        if (merge) {
            emit(c, k ? OPCODE_MAP_ADD : OPCODE_DICT_UPDATE, 1);
        }
    }
    if (!merge) {
        emit(c, OPCODE_BUILD_MAP, e->list.count);
    }
    return !c->failed;
}

static bool compile_boolop(Compiler *c, Ast *e)
{
    int op = e->op == TOK_AND ? OPCODE_JUMP_IF_FALSE_OR_POP : OPCODE_JUMP_IF_TRUE_OR_POP;
    int *jumps = lex_alloc(sizeof *jumps * (size_t)e->list.count);
    for (int i = 0; i < e->list.count; i++) {
        compile_expr(c, e->list.items[i]);
        if (i + 1 < e->list.count) {
            jumps[i] = emit(c, op, 0);
        }
    }
    for (int i = 0; i + 1 < e->list.count; i++) {
        patch(c, jumps[i], here(c));
    }
    free(jumps);
    return !c->failed;
}

// a < b < c as CPython 3.10 compiles it: DUP/ROT3 and a cleanup for the short circuit.
static bool compile_compare(Compiler *c, Ast *e)
{
    compile_expr(c, e->a);
    int n = e->list.count;
    if (n == 1) {
        compile_expr(c, e->list.items[0]);
        emit(c, compare_opcode(e->ops[0]), 0);
        return !c->failed;
    }
    int *jumps = lex_alloc(sizeof *jumps * (size_t)n);
    for (int i = 0; i < n - 1; i++) {
        compile_expr(c, e->list.items[i]);
        emit(c, OPCODE_DUP, 0);
        emit(c, OPCODE_ROT3, 0);
        emit(c, compare_opcode(e->ops[i]), 0);
        jumps[i] = emit(c, OPCODE_JUMP_IF_FALSE_OR_POP, 0);
    }
    compile_expr(c, e->list.items[n - 1]);
    emit(c, compare_opcode(e->ops[n - 1]), 0);
    int end = emit(c, OPCODE_JUMP, 0);
    for (int i = 0; i < n - 1; i++) {
        patch(c, jumps[i], here(c));
    }
    emit(c, OPCODE_ROT2, 0);
    emit(c, OPCODE_POP, 0);
    patch(c, end, here(c));
    free(jumps);
    return !c->failed;
}

static bool compile_fstring(Compiler *c, Ast *e)
{
    if (e->list.count == 0) {
        emit(c, OPCODE_LOAD_CONST, const_str(c, "", 0));
        return true;
    }
    for (int i = 0; i < e->list.count; i++) {
        Ast *part = e->list.items[i];
        if (part->kind == AST_CONST) {
            compile_const(c, part, false);
            continue;
        }
        compile_expr(c, part->a);
        if (part->b) {
            compile_fstring(c, part->b);
        }
        c->u->cur = pos_of(part);
        emit(c, OPCODE_FORMAT_VALUE, part->op | (part->b ? 4 : 0));
    }
    if (e->list.count > 1 || e->list.items[0]->kind != AST_FORMATTED) {
        if (e->list.count > 1) {
            emit(c, OPCODE_BUILD_STRING, e->list.count);
        }
    }
    return !c->failed;
}

// Zero-argument super() inside a method: super(__class__, <first parameter>).
static bool is_zero_arg_super(const Compiler *c, const Ast *e)
{
    const Scope *s = c->u->scope;
    return e->a->kind == AST_NAME && strcmp(e->a->name, "super") == 0 && e->list.count == 0 &&
           e->list2.count == 0 && s->kind == SCOPE_FUNCTION && !s->comprehension &&
           (s->argcount > 0 || s->varargs) && scope_deref_index(s, "__class__") >= 0;
}

// Calls with *args or **kwargs: a positional tuple and a keyword dict, then CALL_EX.
static bool compile_call_ex(Compiler *c, Ast *e)
{
    emit(c, OPCODE_BUILD_LIST, 0);
    for (int i = 0; i < e->list.count; i++) {
        Ast *arg = e->list.items[i];
        compile_expr(c, arg->kind == AST_STARRED ? arg->a : arg);
        emit(c, arg->kind == AST_STARRED ? OPCODE_LIST_EXTEND : OPCODE_LIST_APPEND, 1);
    }
    emit(c, OPCODE_LIST_TO_TUPLE, 0);
    if (e->list2.count) {
        emit(c, OPCODE_BUILD_MAP, 0);
        for (int i = 0; i < e->list2.count; i++) {
            Ast *kw = e->list2.items[i];
            if (kw->name) {
                emit(c, OPCODE_BUILD_MAP, 0);
                emit(c, OPCODE_LOAD_CONST, const_str(c, kw->name, strlen(kw->name)));
                compile_expr(c, kw->a);
                emit(c, OPCODE_MAP_ADD, 1);
            } else {
                compile_expr(c, kw->a);
            }
            c->u->cur = pos_of(e);
            emit(c, OPCODE_DICT_MERGE, 1);
        }
    }
    c->u->cur = pos_of(e);
    emit(c, OPCODE_CALL_EX, e->list2.count ? 1 : 0);
    return !c->failed;
}

// The keyword names of [e] as a constant tuple; errors on a repeated name.
static bool keyword_names(Compiler *c, Ast *e, int *index)
{
    Const k = {.kind = CONST_TUPLE};
    k.u.tuple.count = e->list2.count;
    k.u.tuple.items = lex_alloc(sizeof(Const) * (size_t)e->list2.count);
    for (int i = 0; i < e->list2.count; i++) {
        const char *name = e->list2.items[i]->name;
        for (int j = 0; j < i; j++) {
            if (strcmp(e->list2.items[j]->name, name) == 0) {
                for (int m = 0; m < i; m++) {
                    free(k.u.tuple.items[m].u.s.chars);
                }
                free(k.u.tuple.items);
                return error_at(c, e->list2.items[i], "keyword argument repeated: %s", name);
            }
        }
        k.u.tuple.items[i].kind = CONST_STR;
        k.u.tuple.items[i].u.s.chars = dup_bytes(name, strlen(name));
        k.u.tuple.items[i].u.s.len = strlen(name);
    }
    *index = add_const(c->u, k);
    return true;
}

static bool compile_call(Compiler *c, Ast *e)
{
    bool star = has_starred(&e->list);
    for (int i = 0; i < e->list2.count; i++) {
        star |= e->list2.items[i]->name == NULL;
    }
    if (is_zero_arg_super(c, e)) {
        compile_name(c, "super", CTX_LOAD);
        compile_name(c, "__class__", CTX_LOAD);
        compile_name(c, c->u->scope->varnames[0], CTX_LOAD);
        emit(c, OPCODE_CALL, 2);
        return !c->failed;
    }
    if (e->a->kind == AST_ATTRIBUTE && !star && e->list2.count == 0) {
        compile_expr(c, e->a->a);
        c->u->cur = pos_of(e->a);
        emit(c, OPCODE_LOAD_METHOD, name_index(c, e->a->name));
        for (int i = 0; i < e->list.count; i++) {
            compile_expr(c, e->list.items[i]);
        }
        c->u->cur = pos_of(e);
        emit(c, OPCODE_CALL_METHOD, e->list.count);
        return !c->failed;
    }
    compile_expr(c, e->a);
    if (star) {
        return compile_call_ex(c, e);
    }
    for (int i = 0; i < e->list.count; i++) {
        compile_expr(c, e->list.items[i]);
    }
    for (int i = 0; i < e->list2.count; i++) {
        compile_expr(c, e->list2.items[i]->a);
    }
    c->u->cur = pos_of(e);
    if (e->list2.count) {
        int names = 0;
        if (!keyword_names(c, e, &names)) {
            return false;
        }
        emit(c, OPCODE_LOAD_CONST, names);
        emit(c, OPCODE_CALL_KW, e->list.count + e->list2.count);
    } else {
        emit(c, OPCODE_CALL, e->list.count);
    }
    return !c->failed;
}

static bool compile_slice(Compiler *c, Ast *e)
{
    Ast *parts[] = {e->a, e->b, e->c};
    int n = e->c ? 3 : 2;
    for (int i = 0; i < n; i++) {
        if (parts[i]) {
            compile_expr(c, parts[i]);
        } else {
            load_none(c);
        }
    }
    c->u->cur = pos_of(e);
    emit(c, OPCODE_BUILD_SLICE, n);
    return !c->failed;
}

// A comprehension: a nested function taking the first iterator, called at once.
static bool compile_comprehension(Compiler *c, Ast *e)
{
    if (!make_function(c, e, 0)) {
        return false;
    }
    compile_expr(c, e->list.items[0]->b);
    c->u->cur = pos_of(e);
    emit(c, OPCODE_GET_ITER, 0);
    emit(c, OPCODE_CALL, 1);
    return !c->failed;
}

// The loops of comprehension [e] from clause [i] inward, inside its own code object.
static bool compile_comp_loops(Compiler *c, Ast *e, int i)
{
    Ast *clause = e->list.items[i];
    if (i == 0) {
        emit(c, OPCODE_LOAD_FAST, 0);
    } else {
        compile_expr(c, clause->b);
        emit(c, OPCODE_GET_ITER, 0);
    }
    int start = here(c);
    int exit = emit(c, OPCODE_FOR_ITER, 0);
    compile_store(c, clause->a);
    for (int k = 0; k < clause->list.count; k++) {
        compile_expr(c, clause->list.items[k]);
        emit(c, OPCODE_POP_JUMP_IF_FALSE, start);
    }
    if (i + 1 < e->list.count) {
        compile_comp_loops(c, e, i + 1);
    } else {
        int depth = e->list.count + 1;
        compile_expr(c, e->a);
        if (e->kind == AST_DICTCOMP) {
            compile_expr(c, e->b);
        }
        c->u->cur = pos_of(e);
        switch (e->kind) {
        case AST_LISTCOMP: emit(c, OPCODE_LIST_APPEND, depth); break;
        case AST_SETCOMP: emit(c, OPCODE_SET_ADD, depth); break;
        case AST_DICTCOMP: emit(c, OPCODE_MAP_ADD, depth); break;
        default:
            emit(c, OPCODE_YIELD_VALUE, 0);
            emit(c, OPCODE_POP, 0);
        }
    }
    emit(c, OPCODE_JUMP, start);
    patch(c, exit, here(c));
    return !c->failed;
}

static bool compile_unary(Compiler *c, Ast *e)
{
    if (e->op == TOK_MINUS && e->a->kind == AST_CONST &&
        (e->a->op == AST_C_INT || e->a->op == AST_C_FLOAT)) {
        return compile_const(c, e->a, true);
    }
    compile_expr(c, e->a);
    c->u->cur = pos_of(e);
    int op = e->op == TOK_MINUS ? OPCODE_NEG : e->op == TOK_PLUS ? OPCODE_POS
             : e->op == TOK_TILDE ? OPCODE_INVERT : OPCODE_NOT;
    emit(c, op, 0);
    return !c->failed;
}

static bool compile_ifexp(Compiler *c, Ast *e)
{
    compile_expr(c, e->a);
    int j = emit(c, OPCODE_POP_JUMP_IF_FALSE, 0);
    compile_expr(c, e->b);
    int end = emit(c, OPCODE_JUMP, 0);
    patch(c, j, here(c));
    compile_expr(c, e->c);
    patch(c, end, here(c));
    return !c->failed;
}

// The operations of [e] after its operands, which need the node's own position.
static bool compile_expr_kind(Compiler *c, Ast *e)
{
    switch (e->kind) {
    case AST_NAME: compile_name(c, e->name, CTX_LOAD); return true;
    case AST_CONST: return compile_const(c, e, false);
    case AST_FSTRING: return compile_fstring(c, e);
    case AST_TUPLE: case AST_LIST: case AST_SET: return compile_display(c, e);
    case AST_DICT: return compile_dict(c, e);
    case AST_BINOP:
        compile_expr(c, e->a);
        compile_expr(c, e->b);
        c->u->cur = pos_of(e);
        emit(c, binary_opcode(e->op), 0);
        return !c->failed;
    case AST_UNARYOP: return compile_unary(c, e);
    case AST_BOOLOP: return compile_boolop(c, e);
    case AST_COMPARE: return compile_compare(c, e);
    case AST_IFEXP: return compile_ifexp(c, e);
    case AST_LAMBDA: return make_function(c, e, compile_defaults(c, e->args));
    case AST_CALL: return compile_call(c, e);
    case AST_ATTRIBUTE:
        compile_expr(c, e->a);
        c->u->cur = pos_of(e);
        emit(c, OPCODE_LOAD_ATTR, name_index(c, e->name));
        return !c->failed;
    case AST_SUBSCRIPT:
        compile_expr(c, e->a);
        compile_expr(c, e->b);
        c->u->cur = pos_of(e);
        emit(c, OPCODE_BINARY_SUBSCR, 0);
        return !c->failed;
    case AST_SLICE: return compile_slice(c, e);
    case AST_LISTCOMP: case AST_SETCOMP: case AST_DICTCOMP: case AST_GENEXP:
        return compile_comprehension(c, e);
    case AST_YIELD:
        if (e->op == 1) {
            return compile_yield_from(c, e);
        }
        if (e->a) {
            compile_expr(c, e->a);
        } else {
            load_none(c);
        }
        c->u->cur = pos_of(e);
        emit(c, OPCODE_YIELD_VALUE, 0);
        return !c->failed;
    case AST_STARRED: return error_at(c, e, "can't use starred expression here");
    default: return error_at(c, e, "invalid syntax");
    }
}

static bool compile_expr(Compiler *c, Ast *e)
{
    if (c->failed) {
        return false;
    }
    ProtoPos saved = c->u->cur;
    c->u->cur = pos_of(e);
    bool ok = compile_expr_kind(c, e);
    c->u->cur = saved;
    return ok && !c->failed;
}

// ---------------------------------------------------------------- targets

// Unpack the value on the stack into the elements of tuple/list target [t].
static bool compile_unpack(Compiler *c, Ast *t)
{
    int star = -1;
    for (int i = 0; i < t->list.count; i++) {
        if (t->list.items[i]->kind == AST_STARRED) {
            star = i;
        }
    }
    if (star < 0) {
        emit(c, OPCODE_UNPACK_SEQUENCE, t->list.count);
    } else {
        int after = t->list.count - star - 1;
        if (star > 255 || after > 0xffff) {
            return error_at(c, t, "too many expressions in star-unpacking assignment");
        }
        emit(c, OPCODE_UNPACK_EX, star | after << 8);
    }
    for (int i = 0; i < t->list.count; i++) {
        Ast *item = t->list.items[i];
        compile_store(c, item->kind == AST_STARRED ? item->a : item);
    }
    return !c->failed;
}

// Store the value on top of the stack into target [t].
static bool compile_store(Compiler *c, Ast *t)
{
    ProtoPos saved = c->u->cur;
    c->u->cur = pos_of(t);
    switch (t->kind) {
    case AST_NAME: compile_name(c, t->name, CTX_STORE); break;
    case AST_ATTRIBUTE:
        compile_expr(c, t->a);
        emit(c, OPCODE_STORE_ATTR, name_index(c, t->name));
        break;
    case AST_SUBSCRIPT:
        compile_expr(c, t->a);
        compile_expr(c, t->b);
        emit(c, OPCODE_STORE_SUBSCR, 0);
        break;
    case AST_TUPLE: case AST_LIST: compile_unpack(c, t); break;
    default: error_at(c, t, "cannot assign to %s", parse_expr_name(t)); break;
    }
    c->u->cur = saved;
    return !c->failed;
}

static bool compile_delete(Compiler *c, Ast *t)
{
    ProtoPos saved = c->u->cur;
    c->u->cur = pos_of(t);
    switch (t->kind) {
    case AST_NAME: compile_name(c, t->name, CTX_DEL); break;
    case AST_ATTRIBUTE:
        compile_expr(c, t->a);
        emit(c, OPCODE_DELETE_ATTR, name_index(c, t->name));
        break;
    case AST_SUBSCRIPT:
        compile_expr(c, t->a);
        compile_expr(c, t->b);
        emit(c, OPCODE_DELETE_SUBSCR, 0);
        break;
    case AST_TUPLE: case AST_LIST:
        for (int i = 0; i < t->list.count; i++) {
            compile_delete(c, t->list.items[i]);
        }
        break;
    default: error_at(c, t, "cannot delete %s", parse_expr_name(t)); break;
    }
    c->u->cur = saved;
    return !c->failed;
}

// ---------------------------------------------------------------- blocks and unwinding

static Block *push_block(Compiler *c, BlockKind kind, Ast *node)
{
    Unit *u = c->u;
    if (u->nblocks == u->capblocks) {
        u->capblocks = u->capblocks ? u->capblocks * 2 : 8;
        u->blocks = lex_realloc(u->blocks, sizeof *u->blocks * (size_t)u->capblocks);
    }
    Block *b = &u->blocks[u->nblocks++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->node = node;
    b->start = here(c);
    return b;
}

// Pop the innermost block, pointing its breaks at the current position.
static void pop_block(Compiler *c)
{
    Block *b = &c->u->blocks[--c->u->nblocks];
    for (int i = 0; i < b->nbreaks; i++) {
        patch(c, b->breaks[i], here(c));
    }
    free(b->breaks);
}

// Unbind an `except ... as name` variable as CPython does: name = None; del name.
static void unbind_handler_name(Compiler *c, const Ast *handler)
{
    if (handler && handler->name) {
        load_none(c);
        compile_name(c, handler->name, CTX_STORE);
        compile_name(c, handler->name, CTX_DEL);
    }
}

// Emit what leaving block [i] early must do; [keep] means a return value is on top.
static void unwind_one(Compiler *c, int i, bool keep)
{
    Unit *u = c->u;
    Block b = u->blocks[i];
    switch (b.kind) {
    case B_WHILE: break;
    case B_FOR:
        if (keep) {
            emit(c, OPCODE_ROT2, 0);
        }
        emit(c, OPCODE_POP, 0);
        break;
    case B_TRY_EXCEPT: emit(c, OPCODE_POP_BLOCK, 0); break;
    case B_TRY_FINALLY: {
        emit(c, OPCODE_POP_BLOCK, 0);
        // The finally body runs with the blocks from this one inward hidden.
        int saved_n = u->nblocks;
        Block *saved = lex_alloc(sizeof *saved * (size_t)(saved_n - i));
        memcpy(saved, &u->blocks[i], sizeof *saved * (size_t)(saved_n - i));
        u->nblocks = i;
        compile_stmts(c, &b.node->list4);
        u = c->u;
        memcpy(&u->blocks[i], saved, sizeof *saved * (size_t)(saved_n - i));
        u->nblocks = saved_n;
        free(saved);
        break;
    }
    case B_HANDLER:
        emit(c, OPCODE_POP_EXCEPT, 0);
        unbind_handler_name(c, b.node);
        break;
    case B_FINALLY_EXC:
        if (keep) {
            emit(c, OPCODE_ROT2, 0);
        }
        emit(c, OPCODE_POP, 0);
        emit(c, OPCODE_POP_EXCEPT, 0);
        break;
    case B_WITH:
        emit(c, OPCODE_POP_BLOCK, 0);
        if (keep) {
            emit(c, OPCODE_ROT2, 0);
        }
        emit(c, OPCODE_WITH_NORMAL_EXIT, 0);
        break;
    }
}

// Unwind blocks from the innermost down to index [stop] (inclusive).
static void unwind_to(Compiler *c, int stop, bool keep)
{
    for (int i = c->u->nblocks - 1; i >= stop && !c->failed; i--) {
        unwind_one(c, i, keep);
    }
}

static int innermost_loop(const Compiler *c)
{
    for (int i = c->u->nblocks - 1; i >= 0; i--) {
        if (c->u->blocks[i].kind == B_WHILE || c->u->blocks[i].kind == B_FOR) {
            return i;
        }
    }
    return -1;
}

static bool compile_break_continue(Compiler *c, Ast *s)
{
    int loop = innermost_loop(c);
    if (loop < 0) {
        return error_at(c, s, s->kind == AST_BREAK ? "'break' outside loop"
                                                   : "'continue' not properly in loop");
    }
    if (s->kind == AST_CONTINUE) {
        unwind_to(c, loop + 1, false);
        emit(c, OPCODE_JUMP, c->u->blocks[loop].start);
        return !c->failed;
    }
    unwind_to(c, loop, false);
    Block *b = &c->u->blocks[loop];
    b->breaks = lex_realloc(b->breaks, sizeof *b->breaks * (size_t)(b->nbreaks + 1));
    b->breaks[b->nbreaks++] = emit(c, OPCODE_JUMP, 0);
    return !c->failed;
}

static bool compile_return(Compiler *c, Ast *s)
{
    if (c->u->scope->kind != SCOPE_FUNCTION) {
        return error_at(c, s, "'return' outside function");
    }
    if (s->a) {
        compile_expr(c, s->a);
    } else {
        load_none(c);
    }
    unwind_to(c, 0, true);
    c->u->cur = pos_of(s);
    emit(c, OPCODE_RETURN_VALUE, 0);
    return !c->failed;
}

// ---------------------------------------------------------------- compound statements

static bool compile_if(Compiler *c, Ast *s)
{
    compile_expr(c, s->a);
    int j = emit(c, OPCODE_POP_JUMP_IF_FALSE, 0);
    compile_stmts(c, &s->list);
    if (s->list2.count) {
        int end = emit(c, OPCODE_JUMP, 0);
        patch(c, j, here(c));
        compile_stmts(c, &s->list2);
        patch(c, end, here(c));
    } else {
        patch(c, j, here(c));
    }
    return !c->failed;
}

static bool compile_while(Compiler *c, Ast *s)
{
    int start = here(c);
    compile_expr(c, s->a);
    int exit = emit(c, OPCODE_POP_JUMP_IF_FALSE, 0);
    Block *b = push_block(c, B_WHILE, s);
    b->start = start;
    compile_stmts(c, &s->list);
    emit(c, OPCODE_JUMP, start);
    patch(c, exit, here(c));
    // Breaks skip the else clause: compile it before patching them.
    Block loop = c->u->blocks[--c->u->nblocks];
    compile_stmts(c, &s->list2);
    for (int i = 0; i < loop.nbreaks; i++) {
        patch(c, loop.breaks[i], here(c));
    }
    free(loop.breaks);
    return !c->failed;
}

// yield from X: GET_ITER, then SEND/YIELD_VALUE until the sub-iterator is exhausted; SEND
// leaves its return value (a generator's `return` value, else None) as the expression's.
static bool compile_yield_from(Compiler *c, Ast *e)
{
    compile_expr(c, e->a);
    c->u->cur = pos_of(e);
    emit(c, OPCODE_GET_ITER, 0);
    load_none(c);
    int start = here(c);
    int exit = emit(c, OPCODE_SEND, 0);
    emit(c, OPCODE_YIELD_VALUE, 0);
    emit(c, OPCODE_JUMP, start);
    patch(c, exit, here(c));
    return !c->failed;
}

static bool compile_for(Compiler *c, Ast *s)
{
    compile_expr(c, s->b);
    c->u->cur = pos_of(s->b);
    emit(c, OPCODE_GET_ITER, 0);
    int start = here(c);
    int exit = emit(c, OPCODE_FOR_ITER, 0);
    push_block(c, B_FOR, s)->start = start;
    compile_store(c, s->a);
    compile_stmts(c, &s->list);
    emit(c, OPCODE_JUMP, start);
    patch(c, exit, here(c));
    Block loop = c->u->blocks[--c->u->nblocks];
    compile_stmts(c, &s->list2);
    for (int i = 0; i < loop.nbreaks; i++) {
        patch(c, loop.breaks[i], here(c));
    }
    free(loop.breaks);
    return !c->failed;
}

// One except clause of a handler region: [exc] is on the stack at entry. Returns the jump to
// the next clause (or -1 for a bare except) and records the jump to [end] in [ends].
static int compile_handler(Compiler *c, Ast *h, int *end_jump)
{
    int next = -1;
    c->u->cur = pos_of(h);
    if (h->a) {
        compile_expr(c, h->a);
        c->u->cur = pos_of(h);
        emit(c, OPCODE_CHECK_EXC_MATCH, 0);
        next = emit(c, OPCODE_POP_JUMP_IF_FALSE, 0);
    }
    if (h->name) {
        compile_name(c, h->name, CTX_STORE);
    } else {
        emit(c, OPCODE_POP, 0);
    }
    push_block(c, B_HANDLER, h);
    compile_stmts(c, &h->list);
    pop_block(c);
    emit(c, OPCODE_POP_EXCEPT, 0);
    unbind_handler_name(c, h);
    *end_jump = emit(c, OPCODE_JUMP, 0);
    return next;
}

// try / except / else (without finally).
static bool compile_try_except(Compiler *c, Ast *s)
{
    int setup = emit(c, OPCODE_SETUP_TRY, 0);
    push_block(c, B_TRY_EXCEPT, s);
    compile_stmts(c, &s->list);
    pop_block(c);
    emit(c, OPCODE_POP_BLOCK, 0);
    int to_else = emit(c, OPCODE_JUMP, 0);
    patch(c, setup, here(c));
    int *ends = lex_alloc(sizeof *ends * (size_t)s->list2.count);
    for (int i = 0; i < s->list2.count; i++) {
        Ast *h = s->list2.items[i];
        if (!h->a && i + 1 < s->list2.count) {
            free(ends);
            return error_at(c, h, "default 'except:' must be last");
        }
        int next = compile_handler(c, h, &ends[i]);
        if (next >= 0) {
            patch(c, next, here(c));
        }
    }
    if (s->list2.items[s->list2.count - 1]->a) {
        emit(c, OPCODE_RERAISE, 0);
    }
    patch(c, to_else, here(c));
    compile_stmts(c, &s->list3);
    for (int i = 0; i < s->list2.count; i++) {
        patch(c, ends[i], here(c));
    }
    free(ends);
    return !c->failed;
}

// try with finally: the finally body is emitted once for the normal exit and once in the
// exception handler (and again by every break/continue/return that leaves the body).
static bool compile_try(Compiler *c, Ast *s)
{
    if (s->list4.count == 0) {
        return compile_try_except(c, s);
    }
    int setup = emit(c, OPCODE_SETUP_TRY, 0);
    push_block(c, B_TRY_FINALLY, s);
    if (s->list2.count) {
        compile_try_except(c, s);
    } else {
        compile_stmts(c, &s->list);
    }
    pop_block(c);
    emit(c, OPCODE_POP_BLOCK, 0);
    compile_stmts(c, &s->list4);
    int end = emit(c, OPCODE_JUMP, 0);
    patch(c, setup, here(c));
    push_block(c, B_FINALLY_EXC, s);
    compile_stmts(c, &s->list4);
    pop_block(c);
    emit(c, OPCODE_RERAISE, 0);
    patch(c, end, here(c));
    return !c->failed;
}

// with item [i] of [s] and the items after it, then the body.
static bool compile_with_item(Compiler *c, Ast *s, int i)
{
    Ast *item = s->list.items[i];
    compile_expr(c, item->a);
    c->u->cur = pos_of(item->a);
    int setup = emit(c, OPCODE_SETUP_WITH, 0);
    push_block(c, B_WITH, s);
    if (item->b) {
        compile_store(c, item->b);
    } else {
        emit(c, OPCODE_POP, 0);
    }
    if (i + 1 < s->list.count) {
        compile_with_item(c, s, i + 1);
    } else {
        compile_stmts(c, &s->list2);
    }
    pop_block(c);
    c->u->cur = pos_of(item->a);
    emit(c, OPCODE_POP_BLOCK, 0);
    emit(c, OPCODE_WITH_NORMAL_EXIT, 0);
    int end = emit(c, OPCODE_JUMP, 0);
    patch(c, setup, here(c));
    emit(c, OPCODE_WITH_EXCEPT, 0);
    int suppressed = emit(c, OPCODE_POP_JUMP_IF_TRUE, 0);
    emit(c, OPCODE_RERAISE, 0);
    patch(c, suppressed, here(c));
    emit(c, OPCODE_POP, 0);
    emit(c, OPCODE_POP, 0);
    emit(c, OPCODE_POP_EXCEPT, 0);
    patch(c, end, here(c));
    return !c->failed;
}

// ---------------------------------------------------------------- simple statements

static bool compile_assign(Compiler *c, Ast *s)
{
    compile_expr(c, s->a);
    for (int i = 0; i < s->list.count; i++) {
        if (i + 1 < s->list.count) {
            emit(c, OPCODE_DUP, 0);
        }
        compile_store(c, s->list.items[i]);
    }
    return !c->failed;
}

static bool compile_augassign(Compiler *c, Ast *s)
{
    Ast *t = s->a;
    int op = binary_opcode(s->op);
    if (t->kind == AST_NAME) {
        compile_name(c, t->name, CTX_LOAD);
        compile_expr(c, s->b);
        c->u->cur = pos_of(s);
        emit(c, OPCODE_INPLACE, op);
        compile_name(c, t->name, CTX_STORE);
    } else if (t->kind == AST_ATTRIBUTE) {
        compile_expr(c, t->a);
        c->u->cur = pos_of(t);
        emit(c, OPCODE_DUP, 0);
        emit(c, OPCODE_LOAD_ATTR, name_index(c, t->name));
        compile_expr(c, s->b);
        c->u->cur = pos_of(s);
        emit(c, OPCODE_INPLACE, op);
        emit(c, OPCODE_ROT2, 0);
        emit(c, OPCODE_STORE_ATTR, name_index(c, t->name));
    } else {
        compile_expr(c, t->a);
        compile_expr(c, t->b);
        c->u->cur = pos_of(t);
        emit(c, OPCODE_DUP2, 0);
        emit(c, OPCODE_BINARY_SUBSCR, 0);
        compile_expr(c, s->b);
        c->u->cur = pos_of(s);
        emit(c, OPCODE_INPLACE, op);
        emit(c, OPCODE_ROT3, 0);
        emit(c, OPCODE_STORE_SUBSCR, 0);
    }
    return !c->failed;
}

static bool compile_import(Compiler *c, Ast *s)
{
    for (int i = 0; i < s->list.count; i++) {
        Ast *a = s->list.items[i];
        c->u->cur = pos_of(a);
        emit(c, OPCODE_IMPORT_NAME, name_index(c, a->name));
        const char *dot = strchr(a->name, '.');
        while (a->op && dot) {
            const char *next = strchr(dot + 1, '.');
            size_t n = next ? (size_t)(next - dot - 1) : strlen(dot + 1);
            char *part = dup_bytes(dot + 1, n);
            emit(c, OPCODE_IMPORT_FROM, name_index(c, part));
            free(part);
            emit(c, OPCODE_ROT2, 0);
            emit(c, OPCODE_POP, 0);
            dot = next;
        }
        compile_name(c, a->str, CTX_STORE);
    }
    return !c->failed;
}

static bool compile_import_from(Compiler *c, Ast *s)
{
    emit(c, OPCODE_IMPORT_NAME, name_index(c, s->name));
    for (int i = 0; i < s->list.count; i++) {
        Ast *a = s->list.items[i];
        c->u->cur = pos_of(a);
        emit(c, OPCODE_IMPORT_FROM, name_index(c, a->name));
        compile_name(c, a->str, CTX_STORE);
    }
    emit(c, OPCODE_POP, 0);
    return !c->failed;
}

// ---------------------------------------------------------------- assert explanations
// A failing assert says what it saw, as pytest does: `assert f(x) == y` evaluates f, x, the
// call and y once each and keeps those values on the stack under the test's own result. When
// the test passes they are popped; when it fails, ASSERT_FAIL formats a template (a string
// constant) with their reprs: "{N}" is repr(kept value N), "{A~B}" lists how kept values A
// and B differ (for ==), "{{" and "}}" are braces. E.g. for `assert len(d) == 1`:
//     "assert {2} == {3}\n  where {2} = len({1})"   (kept: len, d, len(d), 1)
// A value is kept to the end of the statement only where CPython keeps it as long (the
// operands of the final operation and call) or where it is a name or a constant anyway: a
// temporary kept longer could keep alive an object whose death the rest of the test observes.

typedef struct {
    char *s;
    size_t n, cap;
} Text;

typedef struct {
    Text head;   // "assert ..."
    Text where;  // "\n  where ..." lines
    int kept;    // values kept on the stack so far
} Explain;

static void text_add(Text *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->s = lex_realloc(t->s, t->cap);
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void text_adds(Text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

// "{i}": the repr of kept value [i].
static void text_value(Text *t, int i)
{
    char buf[24];
    text_add(t, buf, (size_t)snprintf(buf, sizeof buf, "{%d}", i));
}

// [n] bytes of source [s] as template text: braces doubled.
static void text_source(Text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        text_add(t, s + i, 1);
        if (s[i] == '{' || s[i] == '}') {
            text_add(t, s + i, 1);
        }
    }
}

// The source of [e] when it lies on one line (NULL otherwise), [*len] bytes.
static const char *source_of(Compiler *c, const Ast *e, size_t *len)
{
    if (c->src == NULL || e->line != e->end_line || e->end_col <= e->col) {
        return NULL;
    }
    if (c->lines == NULL) {
        int cap = 64;
        c->lines = lex_alloc(sizeof *c->lines * (size_t)cap);
        c->lines[c->nlines++] = 0;
        for (size_t i = 0; i < c->srclen; i++) {
            if (c->src[i] == '\n') {
                if (c->nlines == cap) {
                    cap *= 2;
                    c->lines = lex_realloc(c->lines, sizeof *c->lines * (size_t)cap);
                }
                c->lines[c->nlines++] = i + 1;
            }
        }
    }
    if (e->line < 1 || e->line > c->nlines) {
        return NULL;
    }
    size_t start = c->lines[e->line - 1] + (size_t)e->col;
    size_t end = c->lines[e->line - 1] + (size_t)e->end_col;
    if (end > c->srclen || memchr(c->src + start, '\n', end - start) != NULL) {
        return NULL;
    }
    *len = end - start;
    return c->src + start;
}

// A name or a constant: keeping its value longer keeps nothing alive that was not already.
static bool is_plain(const Ast *e)
{
    return e->kind == AST_NAME || e->kind == AST_CONST;
}

// `a` or `a.b.c`: shown as written rather than by the repr of its value.
static bool is_dotted(const Ast *e)
{
    while (e->kind == AST_ATTRIBUTE) {
        e = e->a;
    }
    return e->kind == AST_NAME;
}

static void text_dotted(Text *t, const Ast *e)
{
    if (e->kind == AST_ATTRIBUTE) {
        text_dotted(t, e->a);
        text_add(t, ".", 1);
    }
    text_adds(t, e->name);
}

// Push a copy of kept value [i] while [extra] values sit above the kept ones.
static void copy_kept(Compiler *c, const Explain *ex, int i, int extra)
{
    emit(c, OPCODE_COPY, ex->kept - i + extra);
}

static int keep_expr(Compiler *c, Explain *ex, Ast *e)
{
    compile_expr(c, e);
    return ex->kept++;
}

// Whether call [e] can be explained: plain arguments, no *args or **kwargs; unless it is
// [last] (evaluated last), only plain arguments and a dotted callee may be kept.
static bool explainable_call(const Compiler *c, const Ast *e, bool last)
{
    if (e->kind != AST_CALL || is_zero_arg_super(c, e) || has_starred(&e->list) ||
        (!last && !is_dotted(e->a))) {
        return false;
    }
    for (int i = 0; i < e->list.count; i++) {
        if (!last && !is_plain(e->list.items[i])) {
            return false;
        }
    }
    for (int i = 0; i < e->list2.count; i++) {
        Ast *kw = e->list2.items[i];
        if (kw->name == NULL || (!last && !is_plain(kw->a))) {
            return false;
        }
    }
    return true;
}

// Call [e], keeping its callee, arguments and result; a where line shows them.
static int explain_call(Compiler *c, Explain *ex, Ast *e)
{
    int f = keep_expr(c, ex, e->a);
    int n = e->list.count + e->list2.count;
    for (int i = 0; i < e->list.count; i++) {
        keep_expr(c, ex, e->list.items[i]);
    }
    for (int i = 0; i < e->list2.count; i++) {
        keep_expr(c, ex, e->list2.items[i]->a);
    }
    for (int i = 0; i <= n; i++) {
        copy_kept(c, ex, f + i, i);
    }
    ProtoPos saved = c->u->cur;
    c->u->cur = pos_of(e);
    if (e->list2.count) {
        int names = 0;
        if (!keyword_names(c, e, &names)) {
            return ex->kept;
        }
        emit(c, OPCODE_LOAD_CONST, names);
        emit(c, OPCODE_CALL_KW, n);
    } else {
        emit(c, OPCODE_CALL, n);
    }
    c->u->cur = saved;
    int r = ex->kept++;
    text_adds(&ex->where, "\n  where ");
    text_value(&ex->where, r);
    text_adds(&ex->where, " = ");
    if (is_dotted(e->a)) {
        text_dotted(&ex->where, e->a);
    } else {
        text_value(&ex->where, f);
    }
    text_add(&ex->where, "(", 1);
    for (int i = 0; i < n; i++) {
        text_adds(&ex->where, i ? ", " : "");
        if (i >= e->list.count) {
            text_adds(&ex->where, e->list2.items[i - e->list.count]->name);
            text_add(&ex->where, "=", 1);
        }
        text_value(&ex->where, f + 1 + i);
    }
    text_add(&ex->where, ")", 1);
    return r;
}

// `obj.name`, keeping obj and the result; a where line shows them.
static int explain_attribute(Compiler *c, Explain *ex, Ast *e)
{
    int o = keep_expr(c, ex, e->a);
    copy_kept(c, ex, o, 0);
    ProtoPos saved = c->u->cur;
    c->u->cur = pos_of(e);
    emit(c, OPCODE_LOAD_ATTR, name_index(c, e->name));
    c->u->cur = saved;
    int r = ex->kept++;
    text_adds(&ex->where, "\n  where ");
    text_value(&ex->where, r);
    text_adds(&ex->where, " = ");
    text_value(&ex->where, o);
    text_add(&ex->where, ".", 1);
    text_adds(&ex->where, e->name);
    return r;
}

// Whether the value of [e] reads better with its source beside it ("where 3 = a[0] + 1").
static bool wants_source(const Ast *e)
{
    switch (e->kind) {
    case AST_BOOLOP: case AST_COMPARE: case AST_BINOP: case AST_SUBSCRIPT: case AST_IFEXP:
    case AST_CALL: case AST_ATTRIBUTE: case AST_LISTCOMP: case AST_SETCOMP: case AST_DICTCOMP:
        return true;
    case AST_UNARYOP: return e->a->kind != AST_CONST;
    default: return false;
    }
}

// Evaluate [e] as an operand of the assert's test and keep its value; returns its index.
// [last]: nothing but the test's final operation is evaluated after it.
static int explain_value(Compiler *c, Explain *ex, Ast *e, bool last)
{
    if (explainable_call(c, e, last)) {
        return explain_call(c, ex, e);
    }
    if (e->kind == AST_ATTRIBUTE && (last || is_plain(e->a))) {
        return explain_attribute(c, ex, e);
    }
    int v = keep_expr(c, ex, e);
    size_t n;
    const char *src = wants_source(e) ? source_of(c, e, &n) : NULL;
    if (src != NULL) {
        text_adds(&ex->where, "\n  where ");
        text_value(&ex->where, v);
        text_adds(&ex->where, " = ");
        text_source(&ex->where, src, n);
    }
    return v;
}

static const char *const compare_text[] = {"<", "<=", "==", "!=", ">", ">=", "is", "is not",
                                           "in", "not in"};

// The test of `assert` with its operands kept; leaves the value to test on the stack.
// Returns the jump to take when the assertion holds (POP_JUMP_IF_TRUE or _FALSE).
static int explain_test(Compiler *c, Explain *ex, Ast *t)
{
    text_adds(&ex->head, "assert ");
    if (t->kind == AST_COMPARE && t->list.count == 1) {
        Ast *right = t->list.items[0];
        int l = explain_value(c, ex, t->a, is_plain(right));
        int r = explain_value(c, ex, right, true);
        copy_kept(c, ex, l, 0);
        copy_kept(c, ex, r, 1);
        ProtoPos saved = c->u->cur;
        c->u->cur = pos_of(t);
        emit(c, compare_opcode(t->ops[0]), 0);
        c->u->cur = saved;
        text_value(&ex->head, l);
        text_add(&ex->head, " ", 1);
        text_adds(&ex->head, compare_text[t->ops[0]]);
        text_add(&ex->head, " ", 1);
        text_value(&ex->head, r);
        if (t->ops[0] == AST_CMP_EQ) {
            char buf[48];
            text_add(&ex->where, buf, (size_t)snprintf(buf, sizeof buf, "{%d~%d}", l, r));
        }
        return OPCODE_POP_JUMP_IF_TRUE;
    }
    bool negated = t->kind == AST_UNARYOP && t->op == TOK_NOT;
    int v = explain_value(c, ex, negated ? t->a : t, true);
    copy_kept(c, ex, v, 0);
    text_adds(&ex->head, negated ? "not " : "");
    text_value(&ex->head, v);
    return negated ? OPCODE_POP_JUMP_IF_FALSE : OPCODE_POP_JUMP_IF_TRUE;
}

static bool compile_assert(Compiler *c, Ast *s)
{
    Explain ex = {{NULL, 0, 0}, {NULL, 0, 0}, 0};
    int jump = explain_test(c, &ex, s->a);
    c->u->cur = pos_of(s->a); // CPython points a failed assert at its test
    int ok = emit(c, jump, 0);
    text_add(&ex.head, ex.where.s ? ex.where.s : "", ex.where.n);
    emit(c, OPCODE_LOAD_CONST, const_str(c, ex.head.s, ex.head.n));
    if (s->b) {
        compile_expr(c, s->b);
    }
    emit(c, OPCODE_ASSERT_FAIL, ex.kept << 1 | (s->b != NULL));
    patch(c, ok, here(c));
    for (int i = 0; i < ex.kept; i++) {
        emit(c, OPCODE_POP, 0);
    }
    free(ex.head.s);
    free(ex.where.s);
    return !c->failed;
}

static bool compile_expr_stmt(Compiler *c, Ast *s)
{
    compile_expr(c, s->a);
    bool repl = c->mode == COMPILE_REPL && c->u->scope->kind == SCOPE_MODULE;
    emit(c, repl ? OPCODE_PRINT_EXPR : OPCODE_POP, 0);
    return !c->failed;
}

static bool compile_stmt(Compiler *c, Ast *s)
{
    c->u->cur = pos_of(s);
    switch (s->kind) {
    case AST_EXPR: return compile_expr_stmt(c, s);
    case AST_ASSIGN: return compile_assign(c, s);
    case AST_AUGASSIGN: return compile_augassign(c, s);
    case AST_DELETE:
        for (int i = 0; i < s->list.count; i++) {
            compile_delete(c, s->list.items[i]);
        }
        return !c->failed;
    case AST_PASS: case AST_GLOBAL: case AST_NONLOCAL: return true;
    case AST_BREAK: case AST_CONTINUE: return compile_break_continue(c, s);
    case AST_RETURN: return compile_return(c, s);
    case AST_RAISE:
        if (s->a) {
            compile_expr(c, s->a);
        }
        if (s->b) {
            compile_expr(c, s->b);
        }
        c->u->cur = pos_of(s);
        emit(c, OPCODE_RAISE_VARARGS, s->b ? 2 : s->a ? 1 : 0);
        return !c->failed;
    case AST_ASSERT: return compile_assert(c, s);
    case AST_IMPORT: return compile_import(c, s);
    case AST_IMPORTFROM: return compile_import_from(c, s);
    case AST_IF: return compile_if(c, s);
    case AST_WHILE: return compile_while(c, s);
    case AST_FOR: return compile_for(c, s);
    case AST_TRY: return compile_try(c, s);
    case AST_WITH: return compile_with_item(c, s, 0);
    case AST_FUNCDEF: return compile_funcdef(c, s);
    case AST_CLASSDEF: return compile_classdef(c, s);
    default: return error_at(c, s, "invalid syntax");
    }
}

static bool compile_stmts(Compiler *c, AstList *body)
{
    for (int i = 0; i < body->count && !c->failed; i++) {
        compile_stmt(c, body->items[i]);
    }
    return !c->failed;
}

// ---------------------------------------------------------------- stack depth

// Stack effect of [w] when execution falls through ([jump] false) or takes its jump.
static int stack_effect(uint32_t w, bool jump)
{
    int arg = (int)OPCODE_ARG(w);
    switch (OPCODE_OP(w)) {
    case OPCODE_NOP: case OPCODE_ROT2: case OPCODE_ROT3: case OPCODE_ROT4: case OPCODE_LOAD_ATTR:
    case OPCODE_DELETE_FAST: case OPCODE_DELETE_DEREF: case OPCODE_DELETE_GLOBAL:
    case OPCODE_DELETE_NAME: case OPCODE_NEG: case OPCODE_POS: case OPCODE_INVERT:
    case OPCODE_NOT: case OPCODE_JUMP: case OPCODE_GET_ITER: case OPCODE_LIST_TO_TUPLE:
    case OPCODE_YIELD_VALUE: case OPCODE_SETUP_TRY: case OPCODE_POP_BLOCK:
    case OPCODE_POP_EXCEPT: case OPCODE_CHECK_EXC_MATCH:
        return 0;
    case OPCODE_DUP: case OPCODE_LOAD_CONST: case OPCODE_LOAD_FAST: case OPCODE_LOAD_DEREF:
    case OPCODE_LOAD_CLOSURE: case OPCODE_LOAD_GLOBAL: case OPCODE_LOAD_NAME:
    case OPCODE_LOAD_METHOD: case OPCODE_SETUP_WITH:
    case OPCODE_COPY:
    case OPCODE_WITH_EXCEPT: case OPCODE_IMPORT_NAME: case OPCODE_IMPORT_FROM:
        return 1;
    case OPCODE_DUP2: return 2;
    case OPCODE_STORE_SUBSCR: return -3;
    case OPCODE_STORE_ATTR: case OPCODE_DELETE_SUBSCR: case OPCODE_MAP_ADD: return -2;
    case OPCODE_CALL_METHOD: return -(arg + 1);
    case OPCODE_BUILD_SLICE: case OPCODE_BUILD_TUPLE: case OPCODE_BUILD_LIST:
    case OPCODE_BUILD_SET: case OPCODE_BUILD_STRING:
        return 1 - arg;
    case OPCODE_BUILD_MAP: return 1 - 2 * arg;
    case OPCODE_FOR_ITER: return jump ? -1 : 1;
    case OPCODE_SEND: return jump ? -1 : 0;
    case OPCODE_JUMP_IF_FALSE_OR_POP: case OPCODE_JUMP_IF_TRUE_OR_POP: return jump ? 0 : -1;
    case OPCODE_UNPACK_SEQUENCE: return arg - 1;
    case OPCODE_UNPACK_EX: return (arg & 0xff) + (arg >> 8);
    case OPCODE_FORMAT_VALUE: return (arg & 4) ? -1 : 0;
    case OPCODE_CALL: return -arg;
    case OPCODE_CALL_KW: return -(arg + 1);
    case OPCODE_CALL_EX: return -(1 + (arg & 1));
    case OPCODE_MAKE_FUNCTION: return -((arg & 1) + ((arg >> 1) & 1) + ((arg >> 3) & 1));
    case OPCODE_BUILD_CLASS: return -(arg + 1);
    case OPCODE_RAISE_VARARGS: return -arg;
    case OPCODE_ASSERT_FAIL: return -((arg >> 1) + 1 + (arg & 1));
    default: return -1;
    }
}

static bool is_jump(int op)
{
    return op == OPCODE_JUMP || op == OPCODE_POP_JUMP_IF_FALSE || op == OPCODE_POP_JUMP_IF_TRUE ||
           op == OPCODE_JUMP_IF_FALSE_OR_POP || op == OPCODE_JUMP_IF_TRUE_OR_POP ||
           op == OPCODE_FOR_ITER || op == OPCODE_SEND || op == OPCODE_SETUP_TRY ||
           op == OPCODE_SETUP_WITH;
}

static bool ends_flow(int op)
{
    return op == OPCODE_JUMP || op == OPCODE_RETURN_VALUE || op == OPCODE_RERAISE ||
           op == OPCODE_RAISE_VARARGS || op == OPCODE_ASSERT_FAIL;
}

// The deepest value stack over all paths through [code] (handlers entered with the
// exception pushed), by a worklist pass over the control-flow graph.
static int max_stack(const uint32_t *code, int n)
{
    int *depth = lex_alloc(sizeof *depth * (size_t)(n + 1));
    int *work = lex_alloc(sizeof *work * (size_t)(n + 1));
    for (int i = 0; i <= n; i++) {
        depth[i] = -1;
    }
    int nwork = 0, max = 0;
    depth[0] = 0;
    work[nwork++] = 0;
    while (nwork > 0) {
        int i = work[--nwork];
        if (i >= n) {
            continue;
        }
        int op = OPCODE_OP(code[i]), d = depth[i];
        int targets[2] = {-1, -1}, tdepth[2] = {0, 0};
        if (!ends_flow(op)) {
            targets[0] = i + 1;
            tdepth[0] = d + stack_effect(code[i], false);
        }
        if (is_jump(op)) {
            targets[1] = (int)OPCODE_ARG(code[i]);
            tdepth[1] = op == OPCODE_SETUP_TRY || op == OPCODE_SETUP_WITH
                            ? d + 1 : d + stack_effect(code[i], true);
        }
        for (int k = 0; k < 2; k++) {
            int t = targets[k];
            if (t >= 0 && t <= n && depth[t] < 0) {
                depth[t] = tdepth[k];
                max = tdepth[k] > max ? tdepth[k] : max;
                work[nwork++] = t;
            }
        }
        max = d > max ? d : max;
    }
    free(depth);
    free(work);
    return max + 1;
}

// ---------------------------------------------------------------- code units

static char **copy_names(char **names, int n)
{
    char **out = lex_alloc(sizeof *out * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) {
        out[i] = dup_bytes(names[i], strlen(names[i]));
    }
    return out;
}

// Release what [u] owns that did not move into a Proto.
static void unit_free(Unit *u)
{
    free(u->code);
    free(u->pos);
    scope_map_free(&u->str_consts);
    scope_map_free(&u->int_consts);
    for (int i = 0; i < u->nint_keys; i++) {
        free(u->int_keys[i]);
    }
    free(u->int_keys);
    scope_map_free(&u->name_index);
    for (int i = 0; i < u->nblocks; i++) {
        free(u->blocks[i].breaks);
    }
    free(u->blocks);
}

// Move the finished code of [u] into a new Proto for [scope].
static Proto *unit_finish(Compiler *c, Unit *u, const Scope *scope, const Ast *node)
{
    Proto *p = lex_alloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->name = dup_bytes(scope->name, strlen(scope->name));
    p->qualname = dup_bytes(scope->qualname, strlen(scope->qualname));
    p->filename = dup_bytes(c->filename, strlen(c->filename));
    p->firstline = node->line;
    p->flags = (scope->varargs ? PROTO_VARARGS : 0) | (scope->varkw ? PROTO_VARKW : 0) |
               (scope->generator ? PROTO_GENERATOR : 0) |
               (scope->kind == SCOPE_CLASS ? PROTO_CLASSBODY : 0) |
               (scope->kind == SCOPE_MODULE ? PROTO_MODULE : 0) |
               (scope->comprehension ? PROTO_COMPREHENSION : 0);
    p->code = u->code;
    p->pos = u->pos;
    p->ncode = u->ncode;
    u->code = NULL;
    u->pos = NULL;
    p->consts = u->consts;
    p->nconsts = u->nconsts;
    p->names = u->names;
    p->nnames = u->nnames;
    p->varnames = copy_names(scope->varnames, scope->nlocals);
    p->nlocals = scope->nlocals;
    p->cellnames = copy_names(scope->cellnames, scope->ncells);
    p->ncells = scope->ncells;
    p->cell2arg = lex_alloc(sizeof(int) * (size_t)(scope->ncells ? scope->ncells : 1));
    if (scope->ncells) {
        memcpy(p->cell2arg, scope->cell2arg, sizeof(int) * (size_t)scope->ncells);
    }
    p->freenames = copy_names(scope->freenames, scope->nfrees);
    p->nfrees = scope->nfrees;
    p->argcount = scope->argcount;
    p->kwonlycount = scope->kwonlycount;
    p->maxstack = max_stack(p->code, p->ncode);
    return p;
}

// The class body prologue and epilogue around its statements.
static void compile_class_body(Compiler *c, Ast *node, const Scope *scope)
{
    compile_name(c, "__name__", CTX_LOAD);
    compile_name(c, "__module__", CTX_STORE);
    emit(c, OPCODE_LOAD_CONST, const_str(c, scope->qualname, strlen(scope->qualname)));
    compile_name(c, "__qualname__", CTX_STORE);
    compile_stmts(c, &node->list);
    if (scope->class_cell) {
        emit(c, OPCODE_LOAD_CLOSURE, scope_deref_index(scope, "__class__"));
        compile_name(c, "__classcell__", CTX_STORE);
    }
}

// Compile the code object of [node] with [scope] in a new unit; NULL on error.
static Proto *compile_unit_body(Compiler *c, Scope *scope, Ast *node)
{
    Unit u;
    memset(&u, 0, sizeof u);
    u.parent = c->u;
    u.scope = scope;
    u.cur = pos_of(node);
    c->u = &u;
    switch (node->kind) {
    case AST_LAMBDA:
        compile_expr(c, node->a);
        emit(c, OPCODE_RETURN_VALUE, 0);
        break;
    case AST_LISTCOMP: case AST_SETCOMP: case AST_DICTCOMP: case AST_GENEXP:
        if (node->kind != AST_GENEXP) {
            emit(c, node->kind == AST_LISTCOMP ? OPCODE_BUILD_LIST
                    : node->kind == AST_SETCOMP ? OPCODE_BUILD_SET : OPCODE_BUILD_MAP, 0);
        }
        compile_comp_loops(c, node, 0);
        if (node->kind == AST_GENEXP) {
            load_none(c);
        }
        emit(c, OPCODE_RETURN_VALUE, 0);
        break;
    case AST_CLASSDEF:
        compile_class_body(c, node, scope);
        break;
    default:
        compile_stmts(c, &node->list);
        break;
    }
    if (node->kind == AST_CLASSDEF || node->kind == AST_FUNCDEF || node->kind == AST_MODULE) {
        c->u->cur.line = node->end_line;
        load_none(c);
        emit(c, OPCODE_RETURN_VALUE, 0);
    }
    c->u = u.parent;
    Proto *p = NULL;
    if (!c->failed) {
        p = unit_finish(c, &u, scope, node);
    } else {
        Proto tmp = {.consts = u.consts, .nconsts = u.nconsts, .names = u.names,
                     .nnames = u.nnames};
        for (int i = 0; i < tmp.nconsts; i++) {
            if (tmp.consts[i].kind == CONST_CODE) {
                proto_free(tmp.consts[i].u.code);
                tmp.consts[i].kind = CONST_NONE;
            }
        }
        Proto *shell = lex_alloc(sizeof *shell);
        *shell = tmp;
        proto_free(shell);
    }
    unit_free(&u);
    return p;
}

// ---------------------------------------------------------------- entry point

// REPL: whether the input's last line leaves a block open (indented, or a header ending in
// ':' or a decorator) without the blank line that closes it.
static bool repl_block_open(const char *src, size_t len)
{
    if (len == 0 || (len >= 2 && src[len - 1] == '\n' && src[len - 2] == '\n')) {
        return false;
    }
    size_t end = len;
    while (end > 0 && (src[end - 1] == '\n' || src[end - 1] == '\r')) {
        end--;
    }
    size_t start = end;
    while (start > 0 && src[start - 1] != '\n') {
        start--;
    }
    if (start == end) {
        return false;
    }
    size_t last = end;
    while (last > start && (src[last - 1] == ' ' || src[last - 1] == '\t')) {
        last--;
    }
    bool has_multiple_lines = start > 0;
    return src[last - 1] == ':' || src[start] == '@' ||
           (has_multiple_lines && (src[start] == ' ' || src[start] == '\t'));
}

// Copy the source line [line] of [src] into a malloc'd string, or NULL.
static char *source_line(const char *src, size_t len, int line)
{
    if (line <= 0) {
        return NULL;
    }
    size_t i = 0;
    for (int l = 1; l < line && i < len; i++) {
        if (src[i] == '\n') {
            l++;
        }
    }
    if (i >= len && line > 1) {
        return NULL;
    }
    size_t j = i;
    while (j < len && src[j] != '\n' && src[j] != '\r') {
        j++;
    }
    return dup_bytes(src + i, j - i);
}

static void fill_error(CompileError *err, const LexError *e, const char *src, size_t len,
                       const char *filename)
{
    err->kind = e->kind ? e->kind : "SyntaxError";
    snprintf(err->message, sizeof err->message, "%s", e->message);
    err->filename = dup_bytes(filename, strlen(filename));
    err->line = e->line;
    err->col = e->col;
    err->end_col = e->end_col > e->col ? e->end_col : e->col + (e->col ? 1 : 0);
    err->incomplete = e->incomplete;
    err->text = strstr(e->message, "null bytes") ? NULL : source_line(src, len, e->line);
    if (err->text && strstr(e->message, "Non-UTF-8")) {
        free(err->text);
        err->text = NULL;
    }
}

Proto *compile_source(const char *src, size_t len, const char *filename, CompileMode mode,
                      CompileError *err)
{
    memset(err, 0, sizeof *err);
    filename = filename ? filename : "<string>";
    LexError e;
    memset(&e, 0, sizeof e);
    AstArena *arena = ast_arena_new();
    Ast *module = parse_module(src, len, filename, arena, &e);
    Scope *top = module ? scope_analyze(module, &e) : NULL;
    Proto *p = NULL;
    if (top) {
        Compiler c = {.err = &e, .mode = mode, .filename = filename, .src = src, .srclen = len};
        p = compile_unit_body(&c, top, module);
        free(c.lines);
    }
    scope_free(top);
    ast_arena_free(arena);
    bool open_block = mode == COMPILE_REPL && repl_block_open(src, len);
    if (!p || open_block) {
        if (!p) {
            fill_error(err, &e, src, len, filename);
        } else {
            proto_free(p);
            p = NULL;
            err->kind = "SyntaxError";
            err->filename = dup_bytes(filename, strlen(filename));
            snprintf(err->message, sizeof err->message, "incomplete input");
        }
        err->incomplete = mode == COMPILE_REPL && (err->incomplete || open_block);
    }
    return p;
}

void compile_error_free(CompileError *err)
{
    free(err->filename);
    free(err->text);
    err->filename = NULL;
    err->text = NULL;
}
