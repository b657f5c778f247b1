// Unit tests of the parser (parser/parse.h) and scope analysis (parser/scope.h): tree shapes,
// syntax errors with CPython 3.11's messages and positions, and name resolution.
#include "parser/parse.h"
#include "parser/scope.h"

#include <criterion/criterion.h>
#include <string.h>

typedef struct {
    AstArena *arena;
    Ast *module;
    LexError err;
} Parsed;

static Parsed parse(const char *src)
{
    Parsed p;
    p.arena = ast_arena_new();
    p.module = parse_module(src, strlen(src), "<test>", p.arena, &p.err);
    return p;
}

static void expect_error(const char *src, const char *kind, const char *msg, int line, int col)
{
    Parsed p = parse(src);
    LexError *err = &p.err;
    Scope *s = NULL;
    if (p.module) {
        s = scope_analyze(p.module, err);
        cr_assert_null(s, "no error for %s", src);
    }
    cr_assert_str_eq(err->kind, kind, "kind for %s", src);
    cr_assert_str_eq(err->message, msg, "message for %s", src);
    cr_assert_eq(err->line, line, "line for %s: %d", src, err->line);
    if (col) {
        cr_assert_eq(err->col, col, "col for %s: %d", src, err->col);
    }
    ast_arena_free(p.arena);
}

static Ast *first_stmt(Parsed *p)
{
    cr_assert_not_null(p->module, "%s", p->err.message);
    return p->module->list.items[0];
}

Test(parse, precedence)
{
    Parsed p = parse("x = 1 + 2 * 3 ** -4\n");
    Ast *v = first_stmt(&p)->a;
    cr_assert_eq(v->kind, AST_BINOP);
    cr_assert_eq(v->op, TOK_PLUS);
    cr_assert_eq(v->b->op, TOK_STAR);
    cr_assert_eq(v->b->b->op, TOK_DSTAR);
    cr_assert_eq(v->b->b->b->kind, AST_UNARYOP);
    ast_arena_free(p.arena);
}

Test(parse, comparison_chain_and_not_in)
{
    Parsed p = parse("a < b not in c is not d\n");
    Ast *v = first_stmt(&p)->a;
    cr_assert_eq(v->kind, AST_COMPARE);
    cr_assert_eq(v->list.count, 3);
    cr_assert_eq(v->ops[0], AST_CMP_LT);
    cr_assert_eq(v->ops[1], AST_CMP_NOT_IN);
    cr_assert_eq(v->ops[2], AST_CMP_IS_NOT);
    ast_arena_free(p.arena);
}

Test(parse, conditional_lambda_boolops)
{
    Parsed p = parse("f = lambda x, *a, k=1, **kw: x if not a or k else kw\n");
    Ast *v = first_stmt(&p)->a;
    cr_assert_eq(v->kind, AST_LAMBDA);
    cr_assert_eq(v->args->list.count, 1);
    cr_assert_eq(v->args->list2.count, 1);
    cr_assert_not_null(v->args->b);
    cr_assert_not_null(v->args->c);
    cr_assert_eq(v->a->kind, AST_IFEXP);
    cr_assert_eq(v->a->a->kind, AST_BOOLOP);
    ast_arena_free(p.arena);
}

Test(parse, calls_and_subscripts)
{
    Parsed p = parse("f(a, *b, c=1, **d)[1:2, ::3].x(y for y in z)\n");
    Ast *v = first_stmt(&p)->a;
    cr_assert_eq(v->kind, AST_CALL);
    cr_assert_eq(v->list.items[0]->kind, AST_GENEXP);
    Ast *sub = v->a->a;
    cr_assert_eq(sub->kind, AST_SUBSCRIPT);
    cr_assert_eq(sub->b->kind, AST_TUPLE);
    cr_assert_eq(sub->b->list.items[1]->kind, AST_SLICE);
    Ast *call = sub->a;
    cr_assert_eq(call->list.count, 2);
    cr_assert_eq(call->list2.count, 2);
    cr_assert_null(call->list2.items[1]->name);
    ast_arena_free(p.arena);
}

Test(parse, displays_and_comprehensions)
{
    Parsed p = parse("[1, *a]; {1: 2, **m}; {1, 2}; {}; (); (1,); {k: v for k, v in x if k}\n"
                     "[y for x in z for y in x]; {a for a in b}\n");
    AstKind want[] = {AST_LIST, AST_DICT, AST_SET, AST_DICT, AST_TUPLE, AST_TUPLE,
                      AST_DICTCOMP, AST_LISTCOMP, AST_SETCOMP};
    cr_assert_not_null(p.module);
    for (int i = 0; i < 9; i++) {
        cr_assert_eq(p.module->list.items[i]->a->kind, want[i], "item %d", i);
    }
    cr_assert_eq(p.module->list.items[7]->a->list.count, 2);
    ast_arena_free(p.arena);
}

Test(parse, fstrings_and_concatenation)
{
    Parsed p = parse("x = 'a' \"b\" f'{c!r:>{w}} {{d}}' 'e'\n");
    Ast *v = first_stmt(&p)->a;
    cr_assert_eq(v->kind, AST_FSTRING);
    cr_assert_eq(v->list.count, 3);
    cr_assert_str_eq(v->list.items[0]->str, "ab");
    Ast *f = v->list.items[1];
    cr_assert_eq(f->kind, AST_FORMATTED);
    cr_assert_eq(f->op, 2);
    cr_assert_eq(f->b->kind, AST_FSTRING);
    cr_assert_str_eq(v->list.items[2]->str, " {d}e");
    ast_arena_free(p.arena);
    p = parse("x = 'a' 'b'\n");
    cr_assert_eq(first_stmt(&p)->a->kind, AST_CONST);
    cr_assert_str_eq(first_stmt(&p)->a->str, "ab");
    ast_arena_free(p.arena);
}

Test(parse, statements)
{
    Parsed p = parse("a = b = 1\na, *b = c\nx.y += 1\ndel a[0], b.c\nimport m.n as o\n"
                     "from m import a, b as c\ntry:\n  pass\nexcept (A, B) as e:\n  pass\n"
                     "else:\n  pass\nfinally:\n  pass\nwith a as b, c:\n  pass\n"
                     "@d\nclass C(B):\n  pass\nfor i in x:\n  break\nelse:\n  pass\n");
    cr_assert_not_null(p.module, "%s", p.err.message);
    Ast **s = p.module->list.items;
    cr_assert_eq(s[0]->list.count, 2);
    cr_assert_eq(s[1]->list.items[0]->kind, AST_TUPLE);
    cr_assert_eq(s[2]->kind, AST_AUGASSIGN);
    cr_assert_eq(s[3]->list.count, 2);
    cr_assert_str_eq(s[4]->list.items[0]->name, "m.n");
    cr_assert_str_eq(s[4]->list.items[0]->str, "o");
    cr_assert_eq(s[5]->list.count, 2);
    cr_assert_eq(s[6]->list2.count, 1);
    cr_assert_eq(s[6]->list4.count, 1);
    cr_assert_eq(s[7]->list.count, 2);
    cr_assert_eq(s[8]->list2.count, 1);
    cr_assert_eq(s[9]->list2.count, 1);
    ast_arena_free(p.arena);
}

Test(parse, errors_assignment)
{
    expect_error("1 = x\n", "SyntaxError",
                 "cannot assign to literal here. Maybe you meant '==' instead of '='?", 1, 1);
    expect_error("f() = 1\n", "SyntaxError",
                 "cannot assign to function call here. Maybe you meant '==' instead of '='?", 1, 1);
    expect_error("None = 1\n", "SyntaxError", "cannot assign to None", 1, 1);
    expect_error("(a, 1) = x\n", "SyntaxError", "cannot assign to literal", 1, 5);
    expect_error("a, *b, *c = d\n", "SyntaxError", "multiple starred expressions in assignment",
                 1, 1);
    expect_error("(a, b) += 1\n", "SyntaxError",
                 "'tuple' is an illegal expression for augmented assignment", 1, 1);
    expect_error("del f()\n", "SyntaxError", "cannot delete function call", 1, 5);
    expect_error("x = yield = 3\n", "SyntaxError", "assignment to yield expression not possible",
                 1, 5);
}

Test(parse, errors_general)
{
    expect_error("a b\n", "SyntaxError", "invalid syntax", 1, 3);
    expect_error("x = 1 +\n", "SyntaxError", "invalid syntax", 1, 8);
    expect_error("if x\n  pass\n", "SyntaxError", "expected ':'", 1, 5);
    expect_error("def f()\n  pass\n", "SyntaxError", "expected ':'", 1, 8);
    expect_error("f(a=1, 2)\n", "SyntaxError", "positional argument follows keyword argument", 1,
                 9);
    expect_error("def f(a=1, b): pass\n", "SyntaxError",
                 "non-default argument follows default argument", 1, 12);
    expect_error("f(x for x in y, 1)\n", "SyntaxError",
                 "Generator expression must be parenthesized", 1, 3);
    expect_error("x = [1, 2 3]\n", "SyntaxError", "invalid syntax. Perhaps you forgot a comma?", 1,
                 9);
    expect_error("x = [1, 2\ny = 3\n", "SyntaxError", "'[' was never closed", 1, 5);
    expect_error("1 +\n(\n", "SyntaxError", "invalid syntax", 1, 4);
    expect_error("print 'x'\n", "SyntaxError",
                 "Missing parentheses in call to 'print'. Did you mean print(...)?", 1, 1);
    expect_error("try:\n  pass\nx=1\n", "SyntaxError", "expected 'except' or 'finally' block",
                 3, 1);
    expect_error("from m import *\n", "SyntaxError", "'import *' is not supported", 1, 15);
    expect_error("from . import a\n", "SyntaxError", "relative imports are not supported", 1, 6);
}

Test(parse, errors_indentation)
{
    expect_error(" x\n", "IndentationError", "unexpected indent", 1, 1);
    expect_error("if x:\npass\n", "IndentationError",
                 "expected an indented block after 'if' statement on line 1", 2, 1);
    expect_error("def f():\nreturn\n", "IndentationError",
                 "expected an indented block after function definition on line 1", 2, 1);
    expect_error("class C:\nz\n", "IndentationError",
                 "expected an indented block after class definition on line 1", 2, 1);
    expect_error("try:\n  pass\nexcept:\nz\n", "IndentationError",
                 "expected an indented block after 'except' statement on line 3", 4, 1);
}

Test(parse, errors_fstrings)
{
    expect_error("f'{'\n", "SyntaxError", "f-string: expecting '}'", 1, 0);
    expect_error("f'{}'\n", "SyntaxError", "f-string: empty expression not allowed", 1, 0);
    expect_error("f'}'\n", "SyntaxError", "f-string: single '}' is not allowed", 1, 0);
    expect_error("f'{a!x}'\n", "SyntaxError",
                 "f-string: invalid conversion character: expected 's', 'r', or 'a'", 1, 0);
}

Test(parse, errors_scope)
{
    expect_error("yield 1\n", "SyntaxError", "'yield' outside function", 1, 1);
    expect_error("nonlocal x\n", "SyntaxError", "nonlocal declaration not allowed at module level",
                 1, 1);
    expect_error("def f():\n  nonlocal x\n", "SyntaxError", "no binding for nonlocal 'x' found", 2,
                 3);
    expect_error("def f():\n  print(x)\n  global x\n", "SyntaxError",
                 "name 'x' is used prior to global declaration", 3, 3);
    expect_error("def f():\n  x = 1\n  global x\n", "SyntaxError",
                 "name 'x' is assigned to before global declaration", 3, 3);
    expect_error("def f(a, a): pass\n", "SyntaxError",
                 "duplicate argument 'a' in function definition", 1, 10);
}

Test(parse, deep_nesting_is_an_error_not_a_crash)
{
    size_t n = 100000;
    char *src = malloc(n + 16);
    memcpy(src, "x = ", 4);
    memset(src + 4, '-', n);
    memcpy(src + 4 + n, "1\n", 3);
    expect_error(src, "SyntaxError", "too many nested parentheses", 1, 0);
    for (size_t i = 0; i < n / 4; i++) {
        memcpy(src + 4 + 4 * i, "not ", 4);
    }
    expect_error(src, "SyntaxError", "too many nested parentheses", 1, 0);
    free(src);
}

// ---------------------------------------------------------------- scopes

typedef struct {
    Parsed p;
    Scope *top;
} Analyzed;

static Analyzed analyze(const char *src)
{
    Analyzed a = {parse(src), NULL};
    cr_assert_not_null(a.p.module, "%s", a.p.err.message);
    a.top = scope_analyze(a.p.module, &a.p.err);
    cr_assert_not_null(a.top, "%s", a.p.err.message);
    return a;
}

static void release(Analyzed *a)
{
    scope_free(a->top);
    ast_arena_free(a->p.arena);
}

static SymScope where(const Scope *s, const char *name)
{
    const Symbol *sym = scope_lookup(s, name);
    return sym ? sym->scope : SYM_UNRESOLVED;
}

Test(parse, scope_closures)
{
    Analyzed a = analyze("def f(x):\n  y = 1\n  def g():\n    nonlocal y\n    y = x + z\n"
                         "  return g\n");
    Scope *f = a.top->children[0], *g = f->children[0];
    cr_assert_eq(where(f, "x"), SYM_CELL);
    cr_assert_eq(where(f, "y"), SYM_CELL);
    cr_assert_eq(where(f, "g"), SYM_LOCAL);
    cr_assert_eq(where(g, "x"), SYM_FREE);
    cr_assert_eq(where(g, "y"), SYM_FREE);
    cr_assert_eq(where(g, "z"), SYM_GLOBAL_IMPLICIT);
    cr_assert_eq(f->cell2arg[0], 0);
    cr_assert_eq(f->cell2arg[1], -1);
    release(&a);
}

Test(parse, scope_pass_through_and_global)
{
    Analyzed a = analyze("def f():\n  v = 1\n  w = 2\n  def g():\n    global w\n"
                         "    def h():\n      return v + w\n");
    Scope *f = a.top->children[0], *g = f->children[0], *h = g->children[0];
    cr_assert_eq(where(f, "v"), SYM_CELL);
    cr_assert_eq(where(f, "w"), SYM_LOCAL);
    cr_assert_eq(where(g, "v"), SYM_FREE);
    cr_assert_eq(where(g, "w"), SYM_GLOBAL_EXPLICIT);
    cr_assert_eq(where(h, "v"), SYM_FREE);
    cr_assert_eq(where(h, "w"), SYM_GLOBAL_IMPLICIT);
    release(&a);
}

Test(parse, scope_class_bodies_are_skipped)
{
    Analyzed a = analyze("def f():\n  x = 1\n  class C:\n    x = 2\n    y = 3\n"
                         "    def m(self):\n      return x + y\n");
    Scope *f = a.top->children[0], *c = f->children[0], *m = c->children[0];
    cr_assert_eq(where(f, "x"), SYM_CELL);
    cr_assert_eq(where(c, "x"), SYM_LOCAL);
    cr_assert(scope_lookup(c, "x")->flags & SYM_FREE_CLASS);
    cr_assert_eq(c->nfrees, 1);
    cr_assert_eq(where(m, "x"), SYM_FREE);
    cr_assert_eq(where(m, "y"), SYM_GLOBAL_IMPLICIT);
    release(&a);
}

Test(parse, scope_class_cell_for_super)
{
    Analyzed a = analyze("class C(B):\n  def m(self):\n    def inner():\n      return 1\n"
                         "    return super().m()\n  def n(self):\n    return 2\n");
    Scope *c = a.top->children[0], *m = c->children[0], *n = c->children[1];
    cr_assert(c->class_cell);
    cr_assert_eq(c->ncells, 1);
    cr_assert_str_eq(c->cellnames[0], "__class__");
    cr_assert_eq(where(m, "__class__"), SYM_FREE);
    cr_assert_eq(n->nfrees, 0);
    release(&a);
}

Test(parse, scope_comprehensions)
{
    Analyzed a = analyze("class C:\n  xs = [1]\n  ys = [x * k for x in xs]\n");
    Scope *c = a.top->children[0], *comp = c->children[0];
    cr_assert(comp->comprehension);
    cr_assert_str_eq(comp->name, "<listcomp>");
    cr_assert_str_eq(comp->varnames[0], ".0");
    cr_assert_eq(where(comp, "x"), SYM_LOCAL);
    cr_assert_eq(where(comp, "k"), SYM_GLOBAL_IMPLICIT);
    cr_assert_null(scope_lookup(comp, "xs"));
    cr_assert_eq(where(c, "xs"), SYM_LOCAL);
    release(&a);
}

Test(parse, scope_frame_layout_and_qualnames)
{
    Analyzed a = analyze("def f(a, b=1, *args, c, **kw):\n  d = 2\n  return lambda: d\n"
                         "class K:\n  def m(self):\n    def g(): pass\n");
    Scope *f = a.top->children[0];
    cr_assert_eq(f->argcount, 2);
    cr_assert_eq(f->kwonlycount, 1);
    cr_assert(f->varargs && f->varkw);
    cr_assert_str_eq(f->varnames[2], "c");
    cr_assert_str_eq(f->varnames[3], "args");
    cr_assert_str_eq(f->varnames[4], "kw");
    cr_assert_eq(f->nlocals, 5);
    cr_assert_str_eq(f->cellnames[0], "d");
    cr_assert_str_eq(f->children[0]->qualname, "f.<locals>.<lambda>");
    cr_assert_str_eq(a.top->children[1]->children[0]->children[0]->qualname,
                     "K.m.<locals>.g");
    release(&a);
}

Test(parse, scope_generators)
{
    Analyzed a = analyze("def g():\n  x = yield 1\ndef h(): return (i for i in x)\n");
    cr_assert(a.top->children[0]->generator);
    cr_assert(!a.top->children[1]->generator);
    cr_assert(a.top->children[1]->children[0]->generator);
    release(&a);
}
