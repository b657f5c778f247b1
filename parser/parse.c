// The recursive-descent parser for wk's Python subset. Owns the grammar, target validation,
// string-literal decoding and f-string splitting; reports the first syntax error with
// CPython 3.11's message. All nodes are allocated in the caller's arena.
#include "parser/parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Lexer *lx;
    const char *src;
    size_t len;
    AstArena *arena;
    LexError *err;
    Token tok;       // the current token
    Token prev;      // the last consumed token
    Token last_real; // the last consumed token other than INDENT/DEDENT
    Token ahead;     // one more token of lookahead when has_ahead
    bool has_ahead;
    bool failed;
    bool lex_failed; // the error came from the lexer
    int depth;
    bool in_fstring;
} Parser;

static Ast *parse_expression(Parser *p);
static Ast *parse_star_expressions(Parser *p);
static Ast *parse_bitor(Parser *p);
static Ast *parse_disjunction(Parser *p);
static bool parse_block(Parser *p, AstList *body, const char *what, int header_line);
static Ast *parse_statement_list(Parser *p, AstList *out);
static Ast *parse_strings(Parser *p);

// ---------------------------------------------------------------- tokens and errors

static Ast *fail_at(Parser *p, const char *kind, int line, int col, int end_col, const char *fmt,
                    ...) __attribute__((format(printf, 6, 7)));

// Record the first error (0-based [col], exclusive [end_col]) and make parsing unwind.
static Ast *fail_at(Parser *p, const char *kind, int line, int col, int end_col, const char *fmt,
                    ...)
{
    if (p->failed) {
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err->message, sizeof p->err->message, "%s%s", p->in_fstring ? "f-string: " : "",
             msg);
    p->err->kind = kind;
    p->err->line = line;
    p->err->col = col + 1;
    p->err->end_col = (end_col > col ? end_col : col + 1) + 1;
    p->failed = true;
    p->tok.kind = TOK_ENDMARKER;
    return NULL;
}

// A SyntaxError spanning node [n].
static Ast *fail_node(Parser *p, const Ast *n, const char *msg)
{
    int end = n->end_line == n->line ? n->end_col : n->col + 1;
    return fail_at(p, "SyntaxError", n->line, n->col, end, "%s", msg);
}

// "invalid syntax" at the current token, or the indentation error it stands for.
static Ast *fail_syntax(Parser *p)
{
    Token *t = &p->tok;
    if (t->kind == TOK_INDENT) {
        return fail_at(p, "IndentationError", t->line, t->col - 1, t->col, "unexpected indent");
    }
    if (t->kind == TOK_DEDENT) {
        return fail_at(p, "IndentationError", t->line, t->col, t->col, "unexpected unindent");
    }
    int end = t->end_line == t->line ? t->end_col : t->col + 1;
    return fail_at(p, "SyntaxError", t->line, t->col, end, "invalid syntax");
}

static void advance(Parser *p)
{
    if (p->failed) {
        return;
    }
    p->prev = p->tok;
    if (p->tok.kind != TOK_DEDENT && p->tok.kind != TOK_INDENT) {
        p->last_real = p->tok;
    }
    if (p->has_ahead) {
        p->tok = p->ahead;
        p->has_ahead = false;
        return;
    }
    if (!lex_next(p->lx, &p->tok, p->err)) {
        p->failed = true;
        p->lex_failed = true;
        p->tok.kind = TOK_ENDMARKER;
    }
}

// The token after the current one.
static const Token *peek(Parser *p)
{
    if (!p->has_ahead && !p->failed) {
        if (!lex_next(p->lx, &p->ahead, p->err)) {
            p->failed = true;
            p->lex_failed = true;
            p->ahead.kind = TOK_ENDMARKER;
        }
        p->has_ahead = true;
    }
    return &p->ahead;
}

static bool check(const Parser *p, TokenKind k)
{
    return p->tok.kind == k;
}

static bool accept(Parser *p, TokenKind k)
{
    if (p->tok.kind == k && !p->failed) {
        advance(p);
        return true;
    }
    return false;
}

static bool expect(Parser *p, TokenKind k)
{
    if (accept(p, k)) {
        return true;
    }
    fail_syntax(p);
    return false;
}

static Ast *new_at_tok(Parser *p, AstKind kind)
{
    return ast_new(p->arena, kind, p->tok.line, p->tok.col);
}

static Ast *new_at_node(Parser *p, AstKind kind, const Ast *first)
{
    return ast_new(p->arena, kind, first->line, first->col);
}

// Close [n] at the end of the last consumed token.
static Ast *finish(Parser *p, Ast *n)
{
    if (n) {
        n->end_line = p->prev.end_line;
        n->end_col = p->prev.end_col;
    }
    return n;
}

// Enter one level of nesting; false (with an error) when too deep.
static bool enter(Parser *p)
{
    if (++p->depth > PARSE_MAX_DEPTH) {
        fail_at(p, "SyntaxError", p->tok.line, p->tok.col, p->tok.col + 1,
                "too many nested parentheses");
        return false;
    }
    return true;
}

static char *tok_name(Parser *p, const Token *t)
{
    return ast_strdup(p->arena, t->start, t->len);
}

// ---------------------------------------------------------------- targets

const char *parse_expr_name(const Ast *e)
{
    switch (e->kind) {
    case AST_ATTRIBUTE: return "attribute";
    case AST_SUBSCRIPT: return "subscript";
    case AST_STARRED: return "starred";
    case AST_NAME: return "name";
    case AST_LIST: return "list";
    case AST_TUPLE: return "tuple";
    case AST_LAMBDA: return "lambda";
    case AST_CALL: return "function call";
    case AST_BOOLOP: case AST_BINOP: case AST_UNARYOP: return "expression";
    case AST_GENEXP: return "generator expression";
    case AST_YIELD: return "yield expression";
    case AST_LISTCOMP: return "list comprehension";
    case AST_SETCOMP: return "set comprehension";
    case AST_DICTCOMP: return "dict comprehension";
    case AST_DICT: return "dict literal";
    case AST_SET: return "set display";
    case AST_FSTRING: case AST_FORMATTED: return "f-string expression";
    case AST_COMPARE: return "comparison";
    case AST_IFEXP: return "conditional expression";
    case AST_CONST:
        return e->op == AST_C_NONE ? "None" : e->op == AST_C_TRUE ? "True"
               : e->op == AST_C_FALSE ? "False" : e->op == AST_C_ELLIPSIS ? "ellipsis" : "literal";
    default: return "expression";
    }
}

// The first sub-expression of [e] that cannot be assigned to (or deleted when [del]).
static const Ast *invalid_target(const Ast *e, bool del)
{
    switch (e->kind) {
    case AST_NAME: case AST_ATTRIBUTE: case AST_SUBSCRIPT:
        return NULL;
    case AST_STARRED:
        return del ? e : invalid_target(e->a, del);
    case AST_TUPLE: case AST_LIST:
        for (int i = 0; i < e->list.count; i++) {
            const Ast *bad = invalid_target(e->list.items[i], del);
            if (bad) {
                return bad;
            }
        }
        return NULL;
    default:
        return e;
    }
}

// Check an assignment target [e]: valid kinds and at most one starred item per level.
static bool check_target(Parser *p, const Ast *e, const char *verb)
{
    bool del = strcmp(verb, "delete") == 0;
    const Ast *bad = invalid_target(e, del);
    char msg[128];
    if (bad) {
        if (bad->kind == AST_YIELD && !del) {
            fail_node(p, bad, "assignment to yield expression not possible");
            return false;
        }
        snprintf(msg, sizeof msg, "cannot %s %s", verb, parse_expr_name(bad));
        fail_node(p, bad, msg);
        return false;
    }
    if (e->kind == AST_STARRED && !del) {
        fail_node(p, e, "starred assignment target must be in a list or tuple");
        return false;
    }
    if (e->kind == AST_TUPLE || e->kind == AST_LIST) {
        int stars = 0;
        for (int i = 0; i < e->list.count; i++) {
            const Ast *item = e->list.items[i];
            stars += item->kind == AST_STARRED;
            if (item->kind != AST_STARRED && !check_target(p, item, verb)) {
                return false;
            }
            if (item->kind == AST_STARRED && !check_target(p, item->a, verb)) {
                return false;
            }
        }
        if (stars > 1) {
            fail_node(p, e, "multiple starred expressions in assignment");
            return false;
        }
    }
    return true;
}

// ---------------------------------------------------------------- comprehensions

static Ast *parse_star_bitor(Parser *p);

// A `for` target list: bitwise-or expressions or `*x`, separated by commas, up to `in`.
static Ast *parse_target_list(Parser *p)
{
    Ast *first = parse_star_bitor(p);
    if (!first || !check(p, TOK_COMMA)) {
        return first;
    }
    Ast *t = new_at_node(p, AST_TUPLE, first);
    ast_list_add(p->arena, &t->list, first);
    while (accept(p, TOK_COMMA) && !check(p, TOK_IN)) {
        Ast *item = parse_star_bitor(p);
        if (!item) {
            return NULL;
        }
        ast_list_add(p->arena, &t->list, item);
    }
    return finish(p, t);
}

// Parse `for target in iter [if cond]...` clauses into [out] (the current token is `for`).
static bool parse_comp_clauses(Parser *p, AstList *out)
{
    while (check(p, TOK_FOR)) {
        Ast *c = new_at_tok(p, AST_COMPREHENSION);
        advance(p);
        Ast *target = parse_target_list(p);
        if (!target || !check_target(p, target, "assign to") || !expect(p, TOK_IN)) {
            return false;
        }
        c->a = target;
        c->b = parse_disjunction(p);
        while (c->b && accept(p, TOK_IF)) {
            Ast *cond = parse_disjunction(p);
            if (!cond) {
                return false;
            }
            ast_list_add(p->arena, &c->list, cond);
        }
        if (!c->b) {
            return false;
        }
        ast_list_add(p->arena, out, finish(p, c));
    }
    return !p->failed;
}

// Build a comprehension node of [kind] around element [elt] (the current token is `for`).
static Ast *parse_comprehension(Parser *p, AstKind kind, Ast *elt, Ast *value, const Token *open)
{
    Ast *n = ast_new(p->arena, kind, open ? open->line : elt->line, open ? open->col : elt->col);
    n->a = elt;
    n->b = value;
    if (!parse_comp_clauses(p, &n->list)) {
        return NULL;
    }
    return n;
}

// ---------------------------------------------------------------- atoms

// One element of a display: `*x` or an expression.
static Ast *parse_star_item(Parser *p)
{
    if (check(p, TOK_STAR)) {
        Ast *n = new_at_tok(p, AST_STARRED);
        advance(p);
        n->a = parse_bitor(p);
        return n->a ? finish(p, n) : NULL;
    }
    return parse_expression(p);
}

// Whether the current token can start an expression (for the missing-comma hint).
static bool starts_operand(const Parser *p)
{
    switch (p->tok.kind) {
    case TOK_NAME: case TOK_INT: case TOK_FLOAT: case TOK_STRING: case TOK_LPAREN:
    case TOK_LBRACKET: case TOK_LBRACE: case TOK_NONE: case TOK_TRUE: case TOK_FALSE:
        return true;
    default:
        return false;
    }
}

// Inside brackets, an element [prev] followed directly by another operand: CPython's
// "Perhaps you forgot a comma?" error spanning both. Returns false after reporting.
static bool check_comma(Parser *p, const Ast *prev)
{
    if (!prev || p->failed || !starts_operand(p) || prev->kind == AST_STARRED ||
        prev->end_line != p->tok.line) {
        return true;
    }
    if (prev->kind == AST_NAME && check(p, TOK_STRING)) {
        return true;
    }
    int line = prev->line, col = prev->col;
    Ast *next = parse_bitor(p);
    if (next) {
        fail_at(p, "SyntaxError", line, col, next->end_line == line ? next->end_col : col + 1,
                "invalid syntax. Perhaps you forgot a comma?");
    }
    return false;
}

// The items of a list/tuple/set display after the first, up to [close]. Trailing comma ok.
static bool parse_items(Parser *p, AstList *items, TokenKind close)
{
    if (!check_comma(p, items->items[items->count - 1])) {
        return false;
    }
    while (accept(p, TOK_COMMA)) {
        if (check(p, close)) {
            break;
        }
        Ast *item = parse_star_item(p);
        if (!item) {
            return false;
        }
        ast_list_add(p->arena, items, item);
        if (!check_comma(p, item)) {
            return false;
        }
    }
    return true;
}

static Ast *parse_yield(Parser *p);

// ( ... ): empty tuple, parenthesized expression, tuple, generator expression or yield.
static Ast *parse_paren(Parser *p)
{
    Token open = p->tok;
    advance(p);
    if (accept(p, TOK_RPAREN)) {
        return finish(p, ast_new(p->arena, AST_TUPLE, open.line, open.col));
    }
    if (check(p, TOK_YIELD)) {
        Ast *y = parse_yield(p);
        return y && expect(p, TOK_RPAREN) ? y : NULL;
    }
    Ast *first = parse_star_item(p);
    if (!first) {
        return NULL;
    }
    if (check(p, TOK_FOR) && first->kind != AST_STARRED) {
        Ast *g = parse_comprehension(p, AST_GENEXP, first, NULL, &open);
        return g && expect(p, TOK_RPAREN) ? finish(p, g) : NULL;
    }
    if (!check(p, TOK_COMMA)) {
        if (!check_comma(p, first)) {
            return NULL;
        }
        if (first->kind == AST_STARRED) {
            return fail_node(p, first, "cannot use starred expression here");
        }
        return expect(p, TOK_RPAREN) ? first : NULL;
    }
    Ast *t = ast_new(p->arena, AST_TUPLE, open.line, open.col);
    ast_list_add(p->arena, &t->list, first);
    if (!parse_items(p, &t->list, TOK_RPAREN) || !expect(p, TOK_RPAREN)) {
        return NULL;
    }
    return finish(p, t);
}

// [ ... ]: list display or list comprehension.
static Ast *parse_list(Parser *p)
{
    Token open = p->tok;
    advance(p);
    Ast *l = ast_new(p->arena, AST_LIST, open.line, open.col);
    if (accept(p, TOK_RBRACKET)) {
        return finish(p, l);
    }
    Ast *first = parse_star_item(p);
    if (!first) {
        return NULL;
    }
    if (check(p, TOK_FOR) && first->kind != AST_STARRED) {
        Ast *c = parse_comprehension(p, AST_LISTCOMP, first, NULL, &open);
        return c && expect(p, TOK_RBRACKET) ? finish(p, c) : NULL;
    }
    ast_list_add(p->arena, &l->list, first);
    if (!parse_items(p, &l->list, TOK_RBRACKET) || !expect(p, TOK_RBRACKET)) {
        return NULL;
    }
    return finish(p, l);
}

// One `key: value` or `**mapping` entry of a dict display into [d].
static bool parse_dict_entry(Parser *p, Ast *d)
{
    Ast *k = NULL, *v;
    if (accept(p, TOK_DSTAR)) {
        v = parse_bitor(p);
    } else {
        k = parse_expression(p);
        if (!k || !expect(p, TOK_COLON)) {
            return false;
        }
        v = parse_expression(p);
    }
    if (!v) {
        return false;
    }
    ast_list_add(p->arena, &d->list, k);
    ast_list_add(p->arena, &d->list2, v);
    return true;
}

// The rest of a dict display whose first entry is already in [d].
static Ast *parse_dict_rest(Parser *p, Ast *d)
{
    while (accept(p, TOK_COMMA)) {
        if (check(p, TOK_RBRACE)) {
            break;
        }
        if (!parse_dict_entry(p, d)) {
            return NULL;
        }
    }
    return expect(p, TOK_RBRACE) ? finish(p, d) : NULL;
}

// { ... }: dict, set, dict comprehension or set comprehension.
static Ast *parse_brace(Parser *p)
{
    Token open = p->tok;
    advance(p);
    Ast *d = ast_new(p->arena, AST_DICT, open.line, open.col);
    if (accept(p, TOK_RBRACE)) {
        return finish(p, d);
    }
    if (check(p, TOK_DSTAR)) {
        return parse_dict_entry(p, d) ? parse_dict_rest(p, d) : NULL;
    }
    Ast *first = parse_star_item(p);
    if (!first) {
        return NULL;
    }
    if (first->kind != AST_STARRED && accept(p, TOK_COLON)) {
        Ast *v = parse_expression(p);
        if (!v) {
            return NULL;
        }
        if (check(p, TOK_FOR)) {
            Ast *c = parse_comprehension(p, AST_DICTCOMP, first, v, &open);
            return c && expect(p, TOK_RBRACE) ? finish(p, c) : NULL;
        }
        ast_list_add(p->arena, &d->list, first);
        ast_list_add(p->arena, &d->list2, v);
        return parse_dict_rest(p, d);
    }
    if (check(p, TOK_FOR) && first->kind != AST_STARRED) {
        Ast *c = parse_comprehension(p, AST_SETCOMP, first, NULL, &open);
        return c && expect(p, TOK_RBRACE) ? finish(p, c) : NULL;
    }
    Ast *s = ast_new(p->arena, AST_SET, open.line, open.col);
    ast_list_add(p->arena, &s->list, first);
    if (!parse_items(p, &s->list, TOK_RBRACE) || !expect(p, TOK_RBRACE)) {
        return NULL;
    }
    return finish(p, s);
}

static Ast *const_node(Parser *p, int which)
{
    Ast *n = new_at_tok(p, AST_CONST);
    n->op = which;
    if (which == AST_C_INT) {
        n->ival = p->tok.ival;
        n->int_overflow = p->tok.int_overflow;
    } else if (which == AST_C_FLOAT) {
        n->fval = p->tok.fval;
    }
    advance(p);
    return finish(p, n);
}

static Ast *parse_atom(Parser *p)
{
    switch (p->tok.kind) {
    case TOK_NAME: {
        Ast *n = new_at_tok(p, AST_NAME);
        n->name = tok_name(p, &p->tok);
        advance(p);
        return finish(p, n);
    }
    case TOK_INT: return const_node(p, AST_C_INT);
    case TOK_FLOAT: return const_node(p, AST_C_FLOAT);
    case TOK_NONE: return const_node(p, AST_C_NONE);
    case TOK_TRUE: return const_node(p, AST_C_TRUE);
    case TOK_FALSE: return const_node(p, AST_C_FALSE);
    case TOK_ELLIPSIS: return const_node(p, AST_C_ELLIPSIS);
    case TOK_STRING: return parse_strings(p);
    case TOK_LPAREN: return parse_paren(p);
    case TOK_LBRACKET: return parse_list(p);
    case TOK_LBRACE: return parse_brace(p);
    default: return fail_syntax(p);
    }
}

// ---------------------------------------------------------------- calls and subscripts

// Record call argument [arg] (positional, *x, name=v or **m) in [call], enforcing the order.
static bool add_call_arg(Parser *p, Ast *call, Ast *arg, bool *saw_kw, bool *saw_dstar)
{
    if (arg->kind == AST_KEYWORD) {
        if (!arg->name) {
            *saw_dstar = true;
        }
        *saw_kw = true;
        ast_list_add(p->arena, &call->list2, arg);
        return true;
    }
    const Token *t = &p->tok;
    if (arg->kind == AST_STARRED && *saw_dstar) {
        fail_node(p, arg, "iterable argument unpacking follows keyword argument unpacking");
        return false;
    }
    if (arg->kind != AST_STARRED && *saw_kw) {
        fail_at(p, "SyntaxError", t->line, t->col, t->end_col,
                *saw_dstar ? "positional argument follows keyword argument unpacking"
                           : "positional argument follows keyword argument");
        return false;
    }
    ast_list_add(p->arena, &call->list, arg);
    return true;
}

// One call argument.
static Ast *parse_call_arg(Parser *p)
{
    if (check(p, TOK_STAR)) {
        return parse_star_item(p);
    }
    if (check(p, TOK_DSTAR)) {
        Ast *k = new_at_tok(p, AST_KEYWORD);
        advance(p);
        k->a = parse_expression(p);
        return k->a ? finish(p, k) : NULL;
    }
    if (check(p, TOK_NAME) && peek(p)->kind == TOK_ASSIGN) {
        Ast *k = new_at_tok(p, AST_KEYWORD);
        k->name = tok_name(p, &p->tok);
        advance(p);
        advance(p);
        k->a = parse_expression(p);
        return k->a ? finish(p, k) : NULL;
    }
    return parse_expression(p);
}

// The argument list of a call to [fn] (the current token is `(`).
static Ast *parse_call(Parser *p, Ast *fn)
{
    Ast *call = new_at_node(p, AST_CALL, fn);
    call->a = fn;
    advance(p);
    bool saw_kw = false, saw_dstar = false;
    while (!check(p, TOK_RPAREN)) {
        Ast *arg = parse_call_arg(p);
        if (!arg) {
            return NULL;
        }
        if (check(p, TOK_FOR) && arg->kind != AST_STARRED && arg->kind != AST_KEYWORD) {
            arg = parse_comprehension(p, AST_GENEXP, arg, NULL, NULL);
            if (!finish(p, arg)) {
                return NULL;
            }
            if (call->list.count || call->list2.count || !check(p, TOK_RPAREN)) {
                return fail_node(p, arg, "Generator expression must be parenthesized");
            }
            arg->line = call->line;
            arg->col = fn->end_col;
            arg->end_col = p->tok.end_col;
        }
        if (!add_call_arg(p, call, arg, &saw_kw, &saw_dstar) ||
            !check_comma(p, arg->kind == AST_KEYWORD ? arg->a : arg)) {
            return NULL;
        }
        if (!accept(p, TOK_COMMA)) {
            break;
        }
    }
    return expect(p, TOK_RPAREN) ? finish(p, call) : NULL;
}

// One subscript item: an expression or a slice a:b:c.
static Ast *parse_slice(Parser *p)
{
    Ast *lo = NULL;
    Token start = p->tok;
    if (!check(p, TOK_COLON)) {
        lo = parse_star_item(p);
        if (!lo || !check(p, TOK_COLON)) {
            return lo;
        }
    }
    Ast *s = ast_new(p->arena, AST_SLICE, start.line, start.col);
    s->a = lo;
    advance(p);
    if (!check(p, TOK_COLON) && !check(p, TOK_RBRACKET) && !check(p, TOK_COMMA)) {
        if (!(s->b = parse_expression(p))) {
            return NULL;
        }
    }
    if (accept(p, TOK_COLON) && !check(p, TOK_RBRACKET) && !check(p, TOK_COMMA)) {
        if (!(s->c = parse_expression(p))) {
            return NULL;
        }
    }
    return finish(p, s);
}

// obj[ ... ] (the current token is `[`).
static Ast *parse_subscript(Parser *p, Ast *obj)
{
    Ast *n = new_at_node(p, AST_SUBSCRIPT, obj);
    n->a = obj;
    advance(p);
    Ast *first = parse_slice(p);
    if (!first) {
        return NULL;
    }
    if (check(p, TOK_COMMA)) {
        Ast *t = new_at_node(p, AST_TUPLE, first);
        ast_list_add(p->arena, &t->list, first);
        while (accept(p, TOK_COMMA) && !check(p, TOK_RBRACKET)) {
            Ast *item = parse_slice(p);
            if (!item) {
                return NULL;
            }
            ast_list_add(p->arena, &t->list, item);
        }
        first = finish(p, t);
    }
    n->b = first;
    return expect(p, TOK_RBRACKET) ? finish(p, n) : NULL;
}

// An atom followed by any number of .name, (args) and [subscript] trailers.
static Ast *parse_primary(Parser *p)
{
    Ast *e = parse_atom(p);
    int saved = p->depth;
    while (e) {
        if (check(p, TOK_DOT)) {
            advance(p);
            if (!check(p, TOK_NAME)) {
                return fail_syntax(p);
            }
            Ast *a = new_at_node(p, AST_ATTRIBUTE, e);
            a->a = e;
            a->name = tok_name(p, &p->tok);
            advance(p);
            e = finish(p, a);
        } else if (check(p, TOK_LPAREN)) {
            e = parse_call(p, e);
        } else if (check(p, TOK_LBRACKET)) {
            e = parse_subscript(p, e);
        } else {
            break;
        }
        if (!enter(p)) {
            return NULL;
        }
    }
    p->depth = saved;
    return e;
}

// ---------------------------------------------------------------- operators

static Ast *parse_factor(Parser *p);

// primary ['**' factor]
static Ast *parse_power(Parser *p)
{
    Ast *base = parse_primary(p);
    if (!base || !check(p, TOK_DSTAR)) {
        return base;
    }
    if (!enter(p)) {
        return NULL;
    }
    advance(p);
    Ast *n = new_at_node(p, AST_BINOP, base);
    n->op = TOK_DSTAR;
    n->a = base;
    n->b = parse_factor(p);
    p->depth--;
    return n->b ? finish(p, n) : NULL;
}

// ('+' | '-' | '~') factor | power
static Ast *parse_factor(Parser *p)
{
    TokenKind k = p->tok.kind;
    if (k != TOK_PLUS && k != TOK_MINUS && k != TOK_TILDE) {
        return parse_power(p);
    }
    if (!enter(p)) {
        return NULL;
    }
    Ast *n = new_at_tok(p, AST_UNARYOP);
    n->op = k;
    advance(p);
    n->a = parse_factor(p);
    p->depth--;
    return n->a ? finish(p, n) : NULL;
}

// The binary operator levels, loosest first: | ^ & << >> + - * / // % @.
static const TokenKind binary_levels[][5] = {
    {TOK_PIPE}, {TOK_CARET}, {TOK_AMP}, {TOK_LSHIFT, TOK_RSHIFT}, {TOK_PLUS, TOK_MINUS},
    {TOK_STAR, TOK_SLASH, TOK_DSLASH, TOK_PERCENT, TOK_AT},
};

static bool in_level(int level, TokenKind k)
{
    for (int i = 0; i < 5 && binary_levels[level][i]; i++) {
        if (binary_levels[level][i] == k) {
            return true;
        }
    }
    return false;
}

// A left-associative chain of the binary operators of [level] and tighter.
static Ast *parse_binary(Parser *p, int level)
{
    if (level == (int)(sizeof binary_levels / sizeof binary_levels[0])) {
        return parse_factor(p);
    }
    Ast *left = parse_binary(p, level + 1);
    int saved = p->depth;
    while (left && in_level(level, p->tok.kind)) {
        if (p->tok.kind == TOK_AT) {
            return fail_syntax(p);
        }
        if (!enter(p)) {
            return NULL;
        }
        Ast *n = new_at_node(p, AST_BINOP, left);
        n->op = p->tok.kind;
        n->a = left;
        advance(p);
        n->b = parse_binary(p, level + 1);
        left = n->b ? finish(p, n) : NULL;
    }
    p->depth = saved;
    return left;
}

static Ast *parse_bitor(Parser *p)
{
    return parse_binary(p, 0);
}

// `*x` at bitwise-or level (targets) or a bitwise-or expression.
static Ast *parse_star_bitor(Parser *p)
{
    if (!check(p, TOK_STAR)) {
        return parse_bitor(p);
    }
    Ast *n = new_at_tok(p, AST_STARRED);
    advance(p);
    n->a = parse_bitor(p);
    return n->a ? finish(p, n) : NULL;
}

// The comparison operator at the current token (consuming `not in` / `is not`), or -1.
static int compare_op(Parser *p)
{
    switch (p->tok.kind) {
    case TOK_LT: advance(p); return AST_CMP_LT;
    case TOK_LE: advance(p); return AST_CMP_LE;
    case TOK_EQ: advance(p); return AST_CMP_EQ;
    case TOK_NE: advance(p); return AST_CMP_NE;
    case TOK_GT: advance(p); return AST_CMP_GT;
    case TOK_GE: advance(p); return AST_CMP_GE;
    case TOK_IN: advance(p); return AST_CMP_IN;
    case TOK_IS:
        advance(p);
        return accept(p, TOK_NOT) ? AST_CMP_IS_NOT : AST_CMP_IS;
    case TOK_NOT:
        if (peek(p)->kind != TOK_IN) {
            return -1;
        }
        advance(p);
        advance(p);
        return AST_CMP_NOT_IN;
    default:
        return -1;
    }
}

static Ast *parse_comparison(Parser *p)
{
    Ast *left = parse_bitor(p);
    if (!left) {
        return NULL;
    }
    Ast *n = NULL;
    int cap = 0;
    int op;
    while ((op = compare_op(p)) >= 0) {
        if (!n) {
            n = new_at_node(p, AST_COMPARE, left);
            n->a = left;
        }
        if (n->list.count == cap) {
            cap = cap ? cap * 2 : 4;
            int *ops = ast_alloc(p->arena, sizeof *ops * (size_t)cap);
            if (n->list.count) {
                memcpy(ops, n->ops, sizeof *ops * (size_t)n->list.count);
            }
            n->ops = ops;
        }
        n->ops[n->list.count] = op;
        Ast *right = parse_bitor(p);
        if (!right) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list, right);
    }
    return p->failed ? NULL : n ? finish(p, n) : left;
}

// 'not' inversion | comparison
static Ast *parse_inversion(Parser *p)
{
    if (!check(p, TOK_NOT)) {
        return parse_comparison(p);
    }
    if (!enter(p)) {
        return NULL;
    }
    Ast *n = new_at_tok(p, AST_UNARYOP);
    n->op = TOK_NOT;
    advance(p);
    n->a = parse_inversion(p);
    p->depth--;
    return n->a ? finish(p, n) : NULL;
}

// A flat and/or chain of [sub] operands joined by [op].
static Ast *parse_boolop(Parser *p, TokenKind op, Ast *(*sub)(Parser *))
{
    Ast *first = sub(p);
    if (!first || !check(p, op)) {
        return first;
    }
    Ast *n = new_at_node(p, AST_BOOLOP, first);
    n->op = op;
    ast_list_add(p->arena, &n->list, first);
    while (accept(p, op)) {
        Ast *next = sub(p);
        if (!next) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list, next);
    }
    return finish(p, n);
}

static Ast *parse_conjunction(Parser *p)
{
    return parse_boolop(p, TOK_AND, parse_inversion);
}

static Ast *parse_disjunction(Parser *p)
{
    return parse_boolop(p, TOK_OR, parse_conjunction);
}

// ---------------------------------------------------------------- lambda, conditional, yield

// One parameter NAME [: annotation] [= default]; annotations are parsed and dropped.
static Ast *parse_param(Parser *p, bool annotations)
{
    if (!check(p, TOK_NAME)) {
        return fail_syntax(p);
    }
    Ast *arg = new_at_tok(p, AST_ARG);
    arg->name = tok_name(p, &p->tok);
    advance(p);
    finish(p, arg);
    if (annotations && accept(p, TOK_COLON) && !parse_expression(p)) {
        return NULL;
    }
    if (accept(p, TOK_ASSIGN) && !(arg->a = parse_expression(p))) {
        return NULL;
    }
    return arg;
}

// `*`, `*args` or `**kwargs` in a parameter list into [args].
static bool parse_star_param(Parser *p, Ast *args, TokenKind close, bool annotations,
                             bool *bare_star)
{
    Token star = p->tok;
    if (accept(p, TOK_DSTAR)) {
        if (!(args->c = parse_param(p, annotations))) {
            return false;
        }
        accept(p, TOK_COMMA);
        if (!check(p, close)) {
            fail_at(p, "SyntaxError", p->tok.line, p->tok.col, p->tok.end_col,
                    "arguments cannot follow var-keyword argument");
            return false;
        }
        return true;
    }
    advance(p);
    if (args->b || *bare_star) {
        fail_at(p, "SyntaxError", star.line, star.col, star.end_col,
                "* argument may appear only once");
        return false;
    }
    if (check(p, TOK_COMMA) || check(p, close)) {
        *bare_star = true;
        Token next = *peek(p);
        if (check(p, close) || next.kind == close || next.kind == TOK_DSTAR) {
            fail_at(p, "SyntaxError", star.line, star.col, star.end_col,
                    "named arguments must follow bare *");
            return false;
        }
        return true;
    }
    return (args->b = parse_param(p, annotations)) != NULL;
}

// A parameter list up to [close] (`)` for def, `:` for lambda) as an AST_ARGUMENTS node.
static Ast *parse_params(Parser *p, TokenKind close, bool annotations)
{
    Ast *args = new_at_tok(p, AST_ARGUMENTS);
    bool bare_star = false, saw_default = false, saw_slash = false;
    while (!check(p, close) && !p->failed) {
        if (check(p, TOK_SLASH)) {
            if (saw_slash || args->b || bare_star || args->list.count == 0) {
                return fail_syntax(p);
            }
            advance(p);
            saw_slash = true;
            args->op = args->list.count;
        } else if (check(p, TOK_STAR) || check(p, TOK_DSTAR)) {
            if (!parse_star_param(p, args, close, annotations, &bare_star)) {
                return NULL;
            }
        } else {
            Ast *arg = parse_param(p, annotations);
            if (!arg) {
                return NULL;
            }
            if (args->b || bare_star) {
                ast_list_add(p->arena, &args->list2, arg);
            } else {
                if (!arg->a && saw_default) {
                    return fail_node(p, arg, "non-default argument follows default argument");
                }
                saw_default |= arg->a != NULL;
                ast_list_add(p->arena, &args->list, arg);
            }
        }
        if (!accept(p, TOK_COMMA)) {
            break;
        }
    }
    return p->failed ? NULL : finish(p, args);
}

static Ast *parse_lambda(Parser *p)
{
    Ast *n = new_at_tok(p, AST_LAMBDA);
    advance(p);
    n->args = parse_params(p, TOK_COLON, false);
    if (!n->args || !expect(p, TOK_COLON)) {
        return NULL;
    }
    n->a = parse_expression(p);
    return n->a ? finish(p, n) : NULL;
}

// lambda | disjunction ['if' disjunction 'else' expression]
static Ast *parse_expression(Parser *p)
{
    if (!enter(p)) {
        return NULL;
    }
    Ast *e;
    if (check(p, TOK_LAMBDA)) {
        e = parse_lambda(p);
    } else {
        e = parse_disjunction(p);
        if (e && check(p, TOK_IF)) {
            Ast *n = new_at_node(p, AST_IFEXP, e);
            n->b = e;
            advance(p);
            n->a = parse_disjunction(p);
            if (n->a && !check(p, TOK_ELSE)) {
                e = fail_at(p, "SyntaxError", n->line, n->col, p->prev.end_col,
                            "expected 'else' after 'if' expression");
            } else {
                advance(p);
                n->c = n->a ? parse_expression(p) : NULL;
                e = n->c ? finish(p, n) : NULL;
            }
        }
    }
    p->depth--;
    return e;
}

// Expressions separated by commas (starred allowed): one expression or a tuple.
static Ast *parse_star_expressions(Parser *p)
{
    Ast *first = parse_star_item(p);
    if (!first || !check(p, TOK_COMMA)) {
        return first;
    }
    Ast *t = new_at_node(p, AST_TUPLE, first);
    ast_list_add(p->arena, &t->list, first);
    while (accept(p, TOK_COMMA)) {
        TokenKind k = p->tok.kind;
        if (k == TOK_NEWLINE || k == TOK_ASSIGN || k == TOK_RPAREN || k == TOK_SEMI ||
            k == TOK_COLON || k == TOK_ENDMARKER || (k >= TOK_PLUSEQ && k <= TOK_ATEQ)) {
            break;
        }
        Ast *item = parse_star_item(p);
        if (!item) {
            return NULL;
        }
        ast_list_add(p->arena, &t->list, item);
    }
    return finish(p, t);
}

// yield [star_expressions] | yield from expression
static Ast *parse_yield(Parser *p)
{
    Ast *n = new_at_tok(p, AST_YIELD);
    advance(p);
    if (check(p, TOK_FROM)) {
        advance(p);
        n->op = 1;
        if (!(n->a = parse_expression(p))) {
            return NULL;
        }
        return finish(p, n);
    }
    TokenKind k = p->tok.kind;
    if (k != TOK_NEWLINE && k != TOK_RPAREN && k != TOK_SEMI && k != TOK_ASSIGN &&
        k != TOK_ENDMARKER && !(n->a = parse_star_expressions(p))) {
        return NULL;
    }
    return finish(p, n);
}

// ---------------------------------------------------------------- strings and f-strings

// Collects the parts of adjacent string literals: decoded literal text waits in [lit] until a
// field (or the end) turns it into a constant part.
typedef struct {
    LexBuf lit;
    Ast *node;   // AST_FSTRING receiving the parts
    bool is_f;   // some literal was an f-string
    int line, col;
} StrAcc;

static void flush_literal(Parser *p, StrAcc *acc)
{
    if (acc->lit.len == 0) {
        return;
    }
    Ast *c = ast_new(p->arena, AST_CONST, acc->line, acc->col);
    c->op = AST_C_STR;
    c->str = ast_strdup(p->arena, acc->lit.data, acc->lit.len);
    c->len = acc->lit.len;
    ast_list_add(p->arena, &acc->node->list, c);
    acc->lit.len = 0;
}

// Decode the literal chunk [s, s+n) of string token [t] into [acc].
static bool add_literal(Parser *p, const Token *t, const char *s, size_t n, StrAcc *acc)
{
    LexError e = {0};
    if (!lex_decode_string(s, n, t->str_flags & LEX_STR_RAW, &acc->lit, &e)) {
        fail_at(p, "SyntaxError", t->end_line, t->end_col, t->end_col, "%s", e.message);
        return false;
    }
    return true;
}

// Parse the expression text [begin, end) of the source (starting on [line]) of an f-string.
static Ast *fstring_expr(Parser *p, size_t begin, size_t end, int line)
{
    Parser sub = *p;
    sub.lx = lex_new_sub(p->src, p->len, begin, end, line);
    sub.has_ahead = false;
    sub.in_fstring = true;
    sub.tok.kind = TOK_NEWLINE;
    advance(&sub);
    Ast *e = parse_star_expressions(&sub);
    if (e && !check_comma(&sub, e->kind == AST_TUPLE ? NULL : e)) {
        e = NULL;
    }
    if (e && !check(&sub, TOK_ENDMARKER)) {
        e = fail_syntax(&sub);
    }
    lex_free(sub.lx);
    p->failed = sub.failed;
    p->lex_failed = sub.lex_failed;
    return e;
}

static int line_of(const Token *t, const char *at)
{
    int line = t->body_line;
    for (const char *q = t->body; q < at; q++) {
        line += *q == '\n';
    }
    return line;
}

// Where the expression of the field starting at [i] of [s] ends: at `}`, `!`, `:` or a
// debugging `=`, at nesting level 0. Returns n on a missing `}`, or -1 after an error.
static long field_end(Parser *p, const Token *t, const char *s, size_t n, size_t i)
{
    int nest = 0;
    char quote = 0;
    for (size_t k = i; k < n; k++) {
        char c = s[k];
        const char *msg = NULL;
        if (quote) {
            quote = c == quote ? 0 : quote;
            continue;
        }
        if (c == '\\') {
            msg = "f-string expression part cannot include a backslash";
        } else if (c == '#') {
            msg = "f-string expression part cannot include '#'";
        }
        if (msg) {
            fail_at(p, "SyntaxError", t->end_line, t->end_col, t->end_col, "%s", msg);
            return -1;
        }
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '(' || c == '[' || c == '{') {
            nest++;
        } else if ((c == ')' || c == ']' || c == '}') && nest > 0) {
            nest--;
        } else if (nest == 0 && strchr("=!<>", c) && k + 1 < n && s[k + 1] == '=') {
            k++;
        } else if (nest == 0 && (c == '}' || c == '!' || c == ':' || c == '=')) {
            return (long)k;
        }
    }
    return (long)n;
}

static bool fstring_body(Parser *p, const Token *t, const char *s, size_t n, size_t *pos,
                         StrAcc *acc, int nest);

static bool fstring_fail(Parser *p, const Token *t, const char *msg)
{
    fail_at(p, "SyntaxError", t->end_line, t->end_col, t->end_col, "%s", msg);
    return false;
}

// Parse the {field} starting after the `{` at [*pos] of [s] into [acc]; *pos ends past `}`.
static bool fstring_field(Parser *p, const Token *t, const char *s, size_t n, size_t *pos,
                          StrAcc *acc, int nest)
{
    size_t i = *pos;
    long k = field_end(p, t, s, n, i);
    if (k < 0) {
        return false;
    }
    if ((size_t)k >= n) {
        return fstring_fail(p, t, "f-string: expecting '}'");
    }
    size_t j = i;
    while (j < (size_t)k && strchr(" \t\n\r\f", s[j])) {
        j++;
    }
    if (j == (size_t)k) {
        return fstring_fail(p, t, "f-string: empty expression not allowed");
    }
    size_t begin = (size_t)(s - p->src) + i;
    Ast *e = fstring_expr(p, begin, begin + ((size_t)k - i), line_of(t, s + i));
    if (!e) {
        return false;
    }
    Ast *f = ast_new(p->arena, AST_FORMATTED, e->line, e->col);
    f->a = e;
    ast_end_at(f, e);
    bool debug = s[k] == '=';
    if (debug) {
        k++;
        while ((size_t)k < n && strchr(" \t\n\r\f", s[k])) {
            k++;
        }
        lex_buf_add(&acc->lit, s + i, (size_t)k - i);
    }
    if ((size_t)k < n && s[k] == '!') {
        char conv = (size_t)k + 1 < n ? s[k + 1] : 0;
        if ((conv != 's' && conv != 'r' && conv != 'a') || (size_t)k + 2 >= n ||
            (s[k + 2] != ':' && s[k + 2] != '}')) {
            return fstring_fail(
                p, t, "f-string: invalid conversion character: expected 's', 'r', or 'a'");
        }
        f->op = conv == 's' ? 1 : 2;
        k += 2;
    }
    if ((size_t)k < n && s[k] == ':') {
        if (nest >= 1) {
            return fstring_fail(p, t, "f-string: expressions nested too deeply");
        }
        StrAcc spec = {.node = ast_new(p->arena, AST_FSTRING, t->line, t->col),
                       .line = t->line, .col = t->col};
        size_t sp = (size_t)k + 1;
        bool ok = fstring_body(p, t, s, n, &sp, &spec, nest + 1);
        flush_literal(p, &spec);
        free(spec.lit.data);
        if (!ok) {
            return false;
        }
        f->b = spec.node;
        k = (long)sp;
    } else if (debug && f->op == 0) {
        f->op = 2;
    }
    if ((size_t)k >= n || s[k] != '}') {
        return fstring_fail(p, t, "f-string: expecting '}'");
    }
    flush_literal(p, acc);
    ast_list_add(p->arena, &acc->node->list, f);
    *pos = (size_t)k + 1;
    return true;
}

// Parse f-string text from [*pos]: literals, {{, }} and fields. A format spec ([nest] > 0)
// stops at its closing `}` (left at *pos); the top level runs to the end.
static bool fstring_body(Parser *p, const Token *t, const char *s, size_t n, size_t *pos,
                         StrAcc *acc, int nest)
{
    size_t i = *pos;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '{' && s[j] != '}') {
            j++;
        }
        if (!add_literal(p, t, s + i, j - i, acc)) {
            return false;
        }
        if (j >= n) {
            i = n;
            break;
        }
        if (j + 1 < n && s[j + 1] == s[j] && nest == 0) {
            lex_buf_add(&acc->lit, s + j, 1);
            i = j + 2;
        } else if (s[j] == '}') {
            if (nest > 0) {
                *pos = j;
                return true;
            }
            return fstring_fail(p, t, "f-string: single '}' is not allowed");
        } else {
            i = j + 1;
            if (!fstring_field(p, t, s, n, &i, acc, nest)) {
                return false;
            }
        }
    }
    *pos = i;
    if (nest > 0) {
        return fstring_fail(p, t, "f-string: expecting '}'");
    }
    return true;
}

// One or more adjacent string literals: a constant string, or an AST_FSTRING if any is an
// f-string.
static Ast *parse_strings(Parser *p)
{
    StrAcc acc = {.line = p->tok.line, .col = p->tok.col};
    acc.node = new_at_tok(p, AST_FSTRING);
    bool ok = true;
    lex_buf_add(&acc.lit, "", 0);
    while (ok && check(p, TOK_STRING)) {
        Token t = p->tok;
        if (t.str_flags & LEX_STR_F) {
            acc.is_f = true;
            size_t pos = 0;
            ok = fstring_body(p, &t, t.body, t.body_len, &pos, &acc, 0);
        } else {
            ok = add_literal(p, &t, t.body, t.body_len, &acc);
        }
        advance(p);
    }
    Ast *n = acc.node;
    if (ok && !acc.is_f) {
        n->kind = AST_CONST;
        n->op = AST_C_STR;
        n->str = ast_strdup(p->arena, acc.lit.data, acc.lit.len);
        n->len = acc.lit.len;
    } else if (ok) {
        flush_literal(p, &acc);
    }
    free(acc.lit.data);
    return ok && !p->failed ? finish(p, n) : NULL;
}

// ---------------------------------------------------------------- simple statements

static bool at_stmt_end(const Parser *p)
{
    TokenKind k = p->tok.kind;
    return k == TOK_NEWLINE || k == TOK_SEMI || k == TOK_ENDMARKER;
}

// The value of an assignment: a yield expression or star expressions.
static Ast *parse_rhs(Parser *p)
{
    return check(p, TOK_YIELD) ? parse_yield(p) : parse_star_expressions(p);
}

// The error for assigning to [target] with a plain `=`, as CPython words it.
static bool bad_assign_target(Parser *p, const Ast *target, bool single)
{
    const Ast *bad = invalid_target(target, false);
    if (!bad) {
        return check_target(p, target, "assign to");
    }
    char msg[160];
    bool named_const = bad->kind == AST_CONST && bad->op != AST_C_INT && bad->op != AST_C_FLOAT &&
                       bad->op != AST_C_STR && bad->op != AST_C_ELLIPSIS;
    if (bad->kind == AST_YIELD) {
        snprintf(msg, sizeof msg, "assignment to yield expression not possible");
    } else if (single && bad == target && !named_const && bad->kind != AST_GENEXP) {
        snprintf(msg, sizeof msg, "cannot assign to %s here. Maybe you meant '==' instead of '='?",
                 parse_expr_name(bad));
    } else {
        snprintf(msg, sizeof msg, "cannot assign to %s", parse_expr_name(bad));
    }
    fail_node(p, bad, msg);
    return false;
}

// `target: annotation [= value]`: the annotation is evaluated nowhere and dropped.
static Ast *parse_annotated(Parser *p, Ast *target)
{
    if (target->kind != AST_NAME && target->kind != AST_ATTRIBUTE &&
        target->kind != AST_SUBSCRIPT) {
        return fail_node(p, target, "only single target (not tuple) can be annotated");
    }
    advance(p);
    if (!parse_expression(p)) {
        return NULL;
    }
    if (!accept(p, TOK_ASSIGN)) {
        return finish(p, new_at_node(p, AST_PASS, target));
    }
    Ast *n = new_at_node(p, AST_ASSIGN, target);
    ast_list_add(p->arena, &n->list, target);
    n->a = parse_rhs(p);
    return n->a ? finish(p, n) : NULL;
}

// An expression statement, assignment (chained, unpacking), annotated or augmented assignment.
static Ast *parse_expr_stmt(Parser *p)
{
    Ast *e = check(p, TOK_YIELD) ? parse_yield(p) : parse_star_expressions(p);
    if (!e) {
        return NULL;
    }
    TokenKind k = p->tok.kind;
    if (k >= TOK_PLUSEQ && k <= TOK_ATEQ) {
        if (e->kind != AST_NAME && e->kind != AST_ATTRIBUTE && e->kind != AST_SUBSCRIPT) {
            char msg[160];
            snprintf(msg, sizeof msg, "'%s' is an illegal expression for augmented assignment",
                     parse_expr_name(e));
            return fail_node(p, e, msg);
        }
        if (k == TOK_ATEQ) {
            return fail_syntax(p);
        }
        static const TokenKind binop[] = {TOK_PLUS, TOK_MINUS, TOK_STAR, TOK_SLASH, TOK_DSLASH,
                                          TOK_PERCENT, TOK_DSTAR, TOK_LSHIFT, TOK_RSHIFT,
                                          TOK_AMP, TOK_PIPE, TOK_CARET};
        Ast *n = new_at_node(p, AST_AUGASSIGN, e);
        n->op = binop[k - TOK_PLUSEQ];
        n->a = e;
        advance(p);
        n->b = parse_rhs(p);
        return n->b ? finish(p, n) : NULL;
    }
    if (k == TOK_COLON) {
        return parse_annotated(p, e);
    }
    if (k != TOK_ASSIGN) {
        Ast *s = new_at_node(p, AST_EXPR, e);
        s->a = e;
        return finish(p, s);
    }
    Ast *n = new_at_node(p, AST_ASSIGN, e);
    ast_list_add(p->arena, &n->list, e);
    while (accept(p, TOK_ASSIGN)) {
        Ast *rhs = parse_rhs(p);
        if (!rhs) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list, rhs);
    }
    n->list.count--;
    n->a = n->list.items[n->list.count];
    for (int i = 0; i < n->list.count; i++) {
        if (!bad_assign_target(p, n->list.items[i], n->list.count == 1)) {
            return NULL;
        }
    }
    return finish(p, n);
}

// NAME (',' NAME)* of global / nonlocal.
static Ast *parse_names_stmt(Parser *p, AstKind kind)
{
    Ast *n = new_at_tok(p, kind);
    advance(p);
    do {
        if (!check(p, TOK_NAME)) {
            return fail_syntax(p);
        }
        Ast *name = new_at_tok(p, AST_NAME);
        name->name = tok_name(p, &p->tok);
        advance(p);
        ast_list_add(p->arena, &n->list, finish(p, name));
    } while (accept(p, TOK_COMMA));
    return finish(p, n);
}

// A dotted module name a.b.c as one string.
static char *parse_dotted(Parser *p)
{
    if (check(p, TOK_DOT) || check(p, TOK_ELLIPSIS)) {
        fail_at(p, "SyntaxError", p->tok.line, p->tok.col, p->tok.end_col,
                "relative imports are not supported");
        return NULL;
    }
    LexBuf b = {0};
    do {
        if (!check(p, TOK_NAME)) {
            free(b.data);
            fail_syntax(p);
            return NULL;
        }
        if (b.len) {
            lex_buf_add(&b, ".", 1);
        }
        lex_buf_add(&b, p->tok.start, p->tok.len);
        advance(p);
    } while (accept(p, TOK_DOT));
    char *s = ast_strdup(p->arena, b.data, b.len);
    free(b.data);
    return s;
}

// [as NAME] after an imported name into alias [a].
static bool parse_as_name(Parser *p, Ast *a)
{
    if (accept(p, TOK_AS)) {
        if (!check(p, TOK_NAME)) {
            fail_syntax(p);
            return false;
        }
        a->str = tok_name(p, &p->tok);
        a->op = 1;
        advance(p);
    } else {
        const char *dot = strchr(a->name, '.');
        a->str = dot ? ast_strdup(p->arena, a->name, (size_t)(dot - a->name)) : a->name;
    }
    finish(p, a);
    return true;
}

// import a.b [as c], ...
static Ast *parse_import(Parser *p)
{
    Ast *n = new_at_tok(p, AST_IMPORT);
    advance(p);
    do {
        Ast *a = new_at_tok(p, AST_ALIAS);
        if (!(a->name = parse_dotted(p)) || !parse_as_name(p, a)) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list, a);
    } while (accept(p, TOK_COMMA));
    return finish(p, n);
}

// from m import a [as b], ... | from m import (a, b,)
static Ast *parse_from(Parser *p)
{
    Ast *n = new_at_tok(p, AST_IMPORTFROM);
    advance(p);
    if (!(n->name = parse_dotted(p)) || !expect(p, TOK_IMPORT)) {
        return NULL;
    }
    if (check(p, TOK_STAR)) {
        return fail_at(p, "SyntaxError", p->tok.line, p->tok.col, p->tok.end_col,
                       "'import *' is not supported");
    }
    bool paren = accept(p, TOK_LPAREN);
    do {
        if (paren && check(p, TOK_RPAREN)) {
            break;
        }
        Ast *a = new_at_tok(p, AST_ALIAS);
        if (!check(p, TOK_NAME)) {
            return fail_syntax(p);
        }
        a->name = tok_name(p, &p->tok);
        advance(p);
        if (!parse_as_name(p, a)) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list, a);
    } while (accept(p, TOK_COMMA));
    if (paren && !expect(p, TOK_RPAREN)) {
        return NULL;
    }
    if (!paren && check(p, TOK_COMMA)) {
        return fail_at(p, "SyntaxError", p->tok.line, p->tok.col, p->tok.end_col,
                       "trailing comma not allowed without surrounding parentheses");
    }
    return finish(p, n);
}

// del targets
static Ast *parse_del(Parser *p)
{
    Ast *n = new_at_tok(p, AST_DELETE);
    advance(p);
    do {
        if (at_stmt_end(p) && n->list.count) {
            break;
        }
        Ast *t = parse_bitor(p);
        if (!t || !check_target(p, t, "delete")) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list, t);
    } while (accept(p, TOK_COMMA));
    return finish(p, n);
}

// A statement starting with a keyword whose node has an optional expression tail.
static Ast *parse_keyword_stmt(Parser *p, AstKind kind)
{
    Ast *n = new_at_tok(p, kind);
    advance(p);
    if (kind == AST_RETURN && !at_stmt_end(p)) {
        n->a = parse_star_expressions(p);
    } else if (kind == AST_RAISE && !at_stmt_end(p)) {
        n->a = parse_expression(p);
        if (n->a && accept(p, TOK_FROM)) {
            n->b = parse_expression(p);
            n->a = n->b ? n->a : NULL;
        }
    } else if (kind == AST_ASSERT) {
        n->a = parse_expression(p);
        if (n->a && accept(p, TOK_COMMA)) {
            n->b = parse_expression(p);
            n->a = n->b ? n->a : NULL;
        }
    } else {
        return finish(p, n);
    }
    return n->a ? finish(p, n) : NULL;
}

// One simple statement.
static Ast *parse_simple(Parser *p)
{
    switch (p->tok.kind) {
    case TOK_PASS: return parse_keyword_stmt(p, AST_PASS);
    case TOK_BREAK: return parse_keyword_stmt(p, AST_BREAK);
    case TOK_CONTINUE: return parse_keyword_stmt(p, AST_CONTINUE);
    case TOK_RETURN: return parse_keyword_stmt(p, AST_RETURN);
    case TOK_RAISE: return parse_keyword_stmt(p, AST_RAISE);
    case TOK_ASSERT: return parse_keyword_stmt(p, AST_ASSERT);
    case TOK_GLOBAL: return parse_names_stmt(p, AST_GLOBAL);
    case TOK_NONLOCAL: return parse_names_stmt(p, AST_NONLOCAL);
    case TOK_DEL: return parse_del(p);
    case TOK_IMPORT: return parse_import(p);
    case TOK_FROM: return parse_from(p);
    default: return parse_expr_stmt(p);
    }
}

// simple_stmt (';' simple_stmt)* [';'] NEWLINE, appended to [out].
static bool parse_simple_line(Parser *p, AstList *out)
{
    do {
        if (check(p, TOK_NEWLINE) && out->count) {
            break;
        }
        Ast *s = parse_simple(p);
        if (!s) {
            return false;
        }
        ast_list_add(p->arena, out, s);
    } while (accept(p, TOK_SEMI));
    if (check(p, TOK_ENDMARKER)) {
        return !p->failed;
    }
    if (!check(p, TOK_NEWLINE)) {
        if (p->prev.kind == TOK_NAME && p->tok.kind == TOK_STRING &&
            p->prev.len == 5 && memcmp(p->prev.start, "print", 5) == 0) {
            fail_at(p, "SyntaxError", p->prev.line, p->prev.col, p->tok.end_col,
                    "Missing parentheses in call to 'print'. Did you mean print(...)?");
            return false;
        }
        fail_syntax(p);
        return false;
    }
    advance(p);
    return true;
}

// ---------------------------------------------------------------- compound statements

static bool expect_colon(Parser *p)
{
    if (accept(p, TOK_COLON)) {
        return true;
    }
    if (check(p, TOK_NEWLINE)) {
        fail_at(p, "SyntaxError", p->tok.line, p->tok.col, p->tok.col, "expected ':'");
        return false;
    }
    fail_syntax(p);
    return false;
}

// The block after a compound statement header's `:` into [body]. [what] names the header
// for the "expected an indented block" error.
static bool parse_block(Parser *p, AstList *body, const char *what, int header_line)
{
    if (!accept(p, TOK_NEWLINE)) {
        return parse_simple_line(p, body);
    }
    if (!check(p, TOK_INDENT)) {
        if (!p->failed) {
            fail_at(p, "IndentationError", p->tok.line, p->tok.col, p->tok.end_col,
                    "expected an indented block after %s on line %d", what, header_line);
            p->err->incomplete = p->tok.kind == TOK_ENDMARKER;
        }
        return false;
    }
    advance(p);
    while (!check(p, TOK_DEDENT) && !check(p, TOK_ENDMARKER)) {
        if (!parse_statement_list(p, body)) {
            return false;
        }
    }
    return accept(p, TOK_DEDENT) || !p->failed;
}

// `:` and the block of a header starting with [kw] on [line].
static bool parse_suite(Parser *p, AstList *body, const char *what, int line)
{
    return expect_colon(p) && parse_block(p, body, what, line);
}

// if/elif chains: elif becomes a nested if in orelse.
static Ast *parse_if(Parser *p)
{
    Ast *n = new_at_tok(p, AST_IF);
    bool elif = check(p, TOK_ELIF);
    advance(p);
    if (!(n->a = parse_expression(p)) ||
        !parse_suite(p, &n->list, elif ? "'elif' statement" : "'if' statement", n->line)) {
        return NULL;
    }
    if (check(p, TOK_ELIF)) {
        Ast *sub = parse_if(p);
        if (!sub) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list2, sub);
    } else if (check(p, TOK_ELSE)) {
        int line = p->tok.line;
        advance(p);
        if (!parse_suite(p, &n->list2, "'else' statement", line)) {
            return NULL;
        }
    }
    return finish(p, n);
}

// An optional `else:` block into [orelse].
static bool parse_else(Parser *p, AstList *orelse)
{
    if (!check(p, TOK_ELSE)) {
        return true;
    }
    int line = p->tok.line;
    advance(p);
    return parse_suite(p, orelse, "'else' statement", line);
}

static Ast *parse_while(Parser *p)
{
    Ast *n = new_at_tok(p, AST_WHILE);
    advance(p);
    if (!(n->a = parse_expression(p)) || !parse_suite(p, &n->list, "'while' statement", n->line) ||
        !parse_else(p, &n->list2)) {
        return NULL;
    }
    return finish(p, n);
}

static Ast *parse_for(Parser *p)
{
    Ast *n = new_at_tok(p, AST_FOR);
    advance(p);
    n->a = parse_target_list(p);
    if (!n->a || !check_target(p, n->a, "assign to") || !expect(p, TOK_IN) ||
        !(n->b = parse_star_expressions(p)) ||
        !parse_suite(p, &n->list, "'for' statement", n->line) || !parse_else(p, &n->list2)) {
        return NULL;
    }
    return finish(p, n);
}

// except [type [as name]]: block
static Ast *parse_handler(Parser *p)
{
    Ast *h = new_at_tok(p, AST_HANDLER);
    advance(p);
    if (!check(p, TOK_COLON)) {
        if (!(h->a = parse_expression(p))) {
            return NULL;
        }
        if (check(p, TOK_COMMA)) {
            return fail_at(p, "SyntaxError", h->a->line, h->a->col, h->a->end_col,
                           "multiple exception types must be parenthesized");
        }
        if (accept(p, TOK_AS)) {
            if (!check(p, TOK_NAME)) {
                return fail_syntax(p);
            }
            h->name = tok_name(p, &p->tok);
            advance(p);
        }
    }
    return parse_suite(p, &h->list, "'except' statement", h->line) ? finish(p, h) : NULL;
}

static Ast *parse_try(Parser *p)
{
    Ast *n = new_at_tok(p, AST_TRY);
    advance(p);
    if (!parse_suite(p, &n->list, "'try' statement", n->line)) {
        return NULL;
    }
    while (check(p, TOK_EXCEPT)) {
        Ast *h = parse_handler(p);
        if (!h) {
            return NULL;
        }
        ast_list_add(p->arena, &n->list2, h);
    }
    if (n->list2.count && !parse_else(p, &n->list3)) {
        return NULL;
    }
    if (check(p, TOK_FINALLY)) {
        int line = p->tok.line;
        advance(p);
        if (!parse_suite(p, &n->list4, "'finally' statement", line)) {
            return NULL;
        }
    } else if (n->list2.count == 0) {
        const Token *t = check(p, TOK_ENDMARKER) || check(p, TOK_DEDENT) ? &p->last_real : &p->tok;
        return fail_at(p, "SyntaxError", t->line, t->col, t->end_col,
                       "expected 'except' or 'finally' block");
    }
    return finish(p, n);
}

static Ast *parse_with(Parser *p)
{
    Ast *n = new_at_tok(p, AST_WITH);
    advance(p);
    do {
        Ast *item = new_at_tok(p, AST_WITHITEM);
        if (!(item->a = parse_expression(p))) {
            return NULL;
        }
        if (accept(p, TOK_AS)) {
            item->b = parse_star_bitor(p);
            if (!item->b || !check_target(p, item->b, "assign to")) {
                return NULL;
            }
        }
        ast_list_add(p->arena, &n->list, finish(p, item));
    } while (accept(p, TOK_COMMA));
    if (!parse_suite(p, &n->list2, "'with' statement", n->line)) {
        return NULL;
    }
    return finish(p, n);
}

static Ast *parse_def(Parser *p)
{
    Ast *n = new_at_tok(p, AST_FUNCDEF);
    advance(p);
    if (!check(p, TOK_NAME)) {
        return fail_syntax(p);
    }
    n->name = tok_name(p, &p->tok);
    advance(p);
    if (!expect(p, TOK_LPAREN) || !(n->args = parse_params(p, TOK_RPAREN, true)) ||
        !expect(p, TOK_RPAREN)) {
        return NULL;
    }
    if (accept(p, TOK_ARROW) && !parse_expression(p)) {
        return NULL;
    }
    return parse_suite(p, &n->list, "function definition", n->line) ? finish(p, n) : NULL;
}

static Ast *parse_class(Parser *p)
{
    Ast *n = new_at_tok(p, AST_CLASSDEF);
    advance(p);
    if (!check(p, TOK_NAME)) {
        return fail_syntax(p);
    }
    n->name = tok_name(p, &p->tok);
    advance(p);
    if (check(p, TOK_LPAREN)) {
        Ast *call = parse_call(p, n);
        if (!call) {
            return NULL;
        }
        if (call->list2.count) {
            return fail_node(p, call->list2.items[0], "class keyword arguments are not supported");
        }
        for (int i = 0; i < call->list.count; i++) {
            if (call->list.items[i]->kind == AST_STARRED) {
                return fail_node(p, call->list.items[i], "starred class bases are not supported");
            }
        }
        n->list3 = call->list;
    }
    return parse_suite(p, &n->list, "class definition", n->line) ? finish(p, n) : NULL;
}

// @decorator lines followed by def or class.
static Ast *parse_decorated(Parser *p)
{
    AstList decorators = {0};
    while (accept(p, TOK_AT)) {
        Ast *d = parse_expression(p);
        if (!d || !expect(p, TOK_NEWLINE)) {
            return NULL;
        }
        ast_list_add(p->arena, &decorators, d);
    }
    Ast *n = check(p, TOK_DEF) ? parse_def(p) : check(p, TOK_CLASS) ? parse_class(p)
                                                                      : fail_syntax(p);
    if (n) {
        n->list2 = decorators;
    }
    return n;
}

// One statement (a compound one, or a line of simple ones) appended to [out].
static Ast *parse_statement_list(Parser *p, AstList *out)
{
    Ast *s;
    switch (p->tok.kind) {
    case TOK_IF: s = parse_if(p); break;
    case TOK_WHILE: s = parse_while(p); break;
    case TOK_FOR: s = parse_for(p); break;
    case TOK_TRY: s = parse_try(p); break;
    case TOK_WITH: s = parse_with(p); break;
    case TOK_DEF: s = parse_def(p); break;
    case TOK_CLASS: s = parse_class(p); break;
    case TOK_AT: s = parse_decorated(p); break;
    default:
        return parse_simple_line(p, out) ? out->items[out->count - 1] : NULL;
    }
    if (s) {
        ast_list_add(p->arena, out, s);
    }
    return s;
}

// ---------------------------------------------------------------- entry point

// After a parser error, scan the rest of the input as CPython does: a later tokenizer error
// replaces it, and so does a bracket left open on an earlier line.
static void recheck_tokens(Parser *p)
{
    LexError saved = *p->err;
    Token t;
    for (;;) {
        LexError e = {0};
        if (!lex_next(p->lx, &t, &e)) {
            if (strstr(e.message, "was never closed") == NULL || saved.line > e.line) {
                *p->err = e;
            }
            return;
        }
        if (t.kind == TOK_ENDMARKER || t.kind == TOK_ERRORTOKEN) {
            *p->err = saved;
            return;
        }
    }
}

Ast *parse_module(const char *src, size_t len, const char *filename, AstArena *arena,
                  LexError *err)
{
    Parser p = {.src = src, .len = len, .arena = arena, .err = err};
    memset(err, 0, sizeof *err);
    p.lx = lex_new(src, len, filename);
    Ast *m = ast_new(arena, AST_MODULE, 1, 0);
    p.tok.kind = TOK_NEWLINE;
    advance(&p);
    while (!p.failed && !check(&p, TOK_ENDMARKER)) {
        if (check(&p, TOK_ERRORTOKEN)) {
            fail_syntax(&p);
            break;
        }
        parse_statement_list(&p, &m->list);
    }
    if (p.failed && !p.lex_failed) {
        recheck_tokens(&p);
    }
    lex_free(p.lx);
    return p.failed ? NULL : m;
}
