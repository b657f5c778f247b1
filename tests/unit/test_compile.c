// Unit tests of the compiler (parser/compile.h, parser/proto.h): instruction sequences for
// each construct, name-op selection, code-object metadata, errors and REPL mode.
#define _POSIX_C_SOURCE 200809L // open_memstream

#include "parser/compile.h"
#include "vm/opcode.h"

#include <criterion/criterion.h>
#include <string.h>

static Proto *compile_ok(const char *src)
{
    CompileError err;
    Proto *p = compile_source(src, strlen(src), "<test>", COMPILE_FILE, &err);
    cr_assert_not_null(p, "%s: %s", src, err.message);
    return p;
}

// The nested code object named [name] in [p] (depth first), or [p] for NULL.
static const Proto *find_code(const Proto *p, const char *name)
{
    if (!name || strcmp(p->name, name) == 0) {
        return p;
    }
    for (int i = 0; i < p->nconsts; i++) {
        if (p->consts[i].kind == CONST_CODE) {
            const Proto *q = find_code(p->consts[i].u.code, name);
            if (q) {
                return q;
            }
        }
    }
    return NULL;
}

// The space-separated opcode names of code object [name] of [src] contain [want].
static void expect_ops(const char *src, const char *name, const char *want)
{
    Proto *p = compile_ok(src);
    const Proto *q = find_code(p, name);
    cr_assert_not_null(q, "no code object %s", name);
    char buf[8192] = "";
    for (int i = 0; i < q->ncode; i++) {
        strncat(buf, proto_opcode_name(OPCODE_OP(q->code[i])), sizeof buf - strlen(buf) - 2);
        strcat(buf, " ");
    }
    cr_assert(strstr(buf, want), "%s\nwant: %s\ngot:  %s", src, want, buf);
    proto_free(p);
}

static void expect_error(const char *src, const char *msg, int line)
{
    CompileError err;
    Proto *p = compile_source(src, strlen(src), "t.wk", COMPILE_FILE, &err);
    cr_assert_null(p, "no error for %s", src);
    cr_assert_str_eq(err.kind, "SyntaxError");
    cr_assert_str_eq(err.message, msg);
    cr_assert_eq(err.line, line);
    cr_assert_str_eq(err.filename, "t.wk");
    compile_error_free(&err);
}

Test(compile, module_names_and_constants)
{
    expect_ops("x = 1\ny = x + 1\n", NULL,
               "LOAD_CONST STORE_NAME LOAD_NAME LOAD_CONST ADD STORE_NAME LOAD_CONST RETURN_VALUE");
    Proto *p = compile_ok("a = 'k'\nb = 'k'\nc = 7\nd = 7\n");
    cr_assert_eq(p->nconsts, 3);
    cr_assert(p->flags & PROTO_MODULE);
    proto_free(p);
}

Test(compile, function_locals_globals_cells)
{
    expect_ops("def f(a):\n  b = a\n  return g(b)\n", "f",
               "LOAD_FAST STORE_FAST LOAD_GLOBAL LOAD_FAST CALL RETURN_VALUE");
    expect_ops("def f(a):\n  def g():\n    return a\n  return g\n", "f",
               "LOAD_CLOSURE BUILD_TUPLE LOAD_CONST MAKE_FUNCTION STORE_FAST");
    expect_ops("def f(a):\n  def g():\n    return a\n  return g\n", "g", "LOAD_DEREF RETURN_VALUE");
    Proto *p = compile_ok("def f(a, b=1, *r, k=2, **kw):\n  pass\n");
    const Proto *f = find_code(p, "f");
    cr_assert_eq(f->argcount, 2);
    cr_assert_eq(f->kwonlycount, 1);
    cr_assert_eq(f->flags & (PROTO_VARARGS | PROTO_VARKW), PROTO_VARARGS | PROTO_VARKW);
    cr_assert_eq(f->nlocals, 5);
    proto_free(p);
    expect_ops("def f(a, b=1, *r, k=2, **kw):\n  pass\n", NULL,
               "LOAD_CONST BUILD_TUPLE LOAD_CONST LOAD_CONST BUILD_MAP LOAD_CONST MAKE_FUNCTION");
}

Test(compile, classes_and_super)
{
    expect_ops("class C(B):\n  def m(self):\n    return super().m()\n", NULL,
               "LOAD_CONST MAKE_FUNCTION LOAD_CONST LOAD_NAME BUILD_CLASS STORE_NAME");
    expect_ops("class C(B):\n  def m(self):\n    return super().m()\n", "C",
               "LOAD_NAME STORE_NAME LOAD_CONST STORE_NAME LOAD_CLOSURE BUILD_TUPLE LOAD_CONST "
               "MAKE_FUNCTION STORE_NAME LOAD_CLOSURE STORE_NAME LOAD_CONST RETURN_VALUE");
    expect_ops("class C(B):\n  def m(self):\n    return super().m()\n", "m",
               "LOAD_GLOBAL LOAD_DEREF LOAD_FAST CALL LOAD_METHOD CALL_METHOD");
    Proto *p = compile_ok("class C:\n  def m(self): pass\n");
    const Proto *c = find_code(p, "C");
    cr_assert(c->flags & PROTO_CLASSBODY);
    cr_assert_eq(c->ncells, 0);
    proto_free(p);
}

Test(compile, decorators)
{
    expect_ops("@a\n@b\ndef f(): pass\n", NULL,
               "LOAD_NAME LOAD_NAME LOAD_CONST MAKE_FUNCTION CALL CALL STORE_NAME");
}

Test(compile, calls)
{
    expect_ops("f(1, k=2)\n", NULL, "LOAD_NAME LOAD_CONST LOAD_CONST LOAD_CONST CALL_KW POP");
    expect_ops("f(*a, **k)\n", NULL,
               "LOAD_NAME BUILD_LIST LOAD_NAME LIST_EXTEND LIST_TO_TUPLE BUILD_MAP LOAD_NAME "
               "DICT_MERGE CALL_EX");
    expect_ops("o.m(1)\n", NULL, "LOAD_NAME LOAD_METHOD LOAD_CONST CALL_METHOD POP");
    expect_error("f(a=1, a=2)\n", "keyword argument repeated: a", 1);
}

Test(compile, comprehensions)
{
    expect_ops("x = [i for i in y if i]\n", NULL, "MAKE_FUNCTION LOAD_NAME GET_ITER CALL");
    expect_ops("x = [i for i in y if i]\n", "<listcomp>",
               "BUILD_LIST LOAD_FAST FOR_ITER STORE_FAST LOAD_FAST POP_JUMP_IF_FALSE LOAD_FAST "
               "LIST_APPEND JUMP RETURN_VALUE");
    expect_ops("x = {k: v for k in a for v in k}\n", "<dictcomp>", "MAP_ADD");
    expect_ops("x = (i for i in y)\n", "<genexpr>", "YIELD_VALUE POP JUMP");
    Proto *p = compile_ok("x = (i for i in y)\n");
    const Proto *g = find_code(p, "<genexpr>");
    cr_assert_eq(g->flags & (PROTO_GENERATOR | PROTO_COMPREHENSION),
                 PROTO_GENERATOR | PROTO_COMPREHENSION);
    cr_assert_eq(g->argcount, 1);
    proto_free(p);
}

Test(compile, control_flow)
{
    expect_ops("while x:\n  break\nelse:\n  y\n", NULL, "LOAD_NAME POP_JUMP_IF_FALSE JUMP");
    expect_ops("for i in x:\n  break\n", NULL, "GET_ITER FOR_ITER STORE_NAME POP JUMP");
    expect_ops("x = a < b < c\n", NULL,
               "LOAD_NAME LOAD_NAME DUP ROT3 LT JUMP_IF_FALSE_OR_POP LOAD_NAME LT JUMP ROT2 POP");
    expect_ops("x = a and b or c\n", NULL, "JUMP_IF_FALSE_OR_POP LOAD_NAME JUMP_IF_TRUE_OR_POP");
    expect_ops("x = a if b else c\n", NULL, "LOAD_NAME POP_JUMP_IF_FALSE LOAD_NAME JUMP LOAD_NAME");
}

Test(compile, try_except_finally)
{
    expect_ops("try:\n  a\nexcept E as e:\n  b\n", NULL,
               "SETUP_TRY LOAD_NAME POP POP_BLOCK JUMP LOAD_NAME CHECK_EXC_MATCH "
               "POP_JUMP_IF_FALSE STORE_NAME LOAD_NAME POP POP_EXCEPT LOAD_CONST STORE_NAME "
               "DELETE_NAME JUMP RERAISE");
    expect_ops("try:\n  a\nfinally:\n  b\n", NULL,
               "SETUP_TRY LOAD_NAME POP POP_BLOCK LOAD_NAME POP JUMP LOAD_NAME POP RERAISE");
    expect_ops("def f():\n  for x in y:\n    try:\n      return x\n    finally:\n      g()\n", "f",
               "LOAD_FAST POP_BLOCK LOAD_GLOBAL CALL POP ROT2 POP RETURN_VALUE");
    expect_ops("while 1:\n  try:\n    pass\n  except:\n    break\n", NULL, "POP_EXCEPT JUMP");
}

Test(compile, with_statement)
{
    expect_ops("with a as b:\n  c\n", NULL,
               "LOAD_NAME SETUP_WITH STORE_NAME LOAD_NAME POP POP_BLOCK WITH_NORMAL_EXIT JUMP "
               "WITH_EXCEPT POP_JUMP_IF_TRUE RERAISE POP POP POP_EXCEPT");
    expect_ops("def f():\n  with a:\n    return 1\n", "f",
               "LOAD_CONST POP_BLOCK ROT2 WITH_NORMAL_EXIT RETURN_VALUE");
}

Test(compile, assignments)
{
    expect_ops("a, *b, c = d\n", NULL, "LOAD_NAME UNPACK_EX STORE_NAME STORE_NAME STORE_NAME");
    expect_ops("a = b = c\n", NULL, "LOAD_NAME DUP STORE_NAME STORE_NAME");
    expect_ops("a.b += 1\n", NULL, "LOAD_NAME DUP LOAD_ATTR LOAD_CONST INPLACE ROT2 STORE_ATTR");
    expect_ops("a[i] += 1\n", NULL,
               "LOAD_NAME LOAD_NAME DUP2 BINARY_SUBSCR LOAD_CONST INPLACE ROT3 STORE_SUBSCR");
    expect_ops("del a, b.c, d[0]\n", NULL,
               "DELETE_NAME LOAD_NAME DELETE_ATTR LOAD_NAME LOAD_CONST DELETE_SUBSCR");
    expect_ops("x = a[1:2:3]\n", NULL,
               "LOAD_CONST LOAD_CONST LOAD_CONST BUILD_SLICE BINARY_SUBSCR");
}

Test(compile, imports_assert_raise)
{
    expect_ops("from m import a, b as c\n", NULL,
               "IMPORT_NAME IMPORT_FROM STORE_NAME IMPORT_FROM STORE_NAME POP");
    expect_ops("assert x, 'm'\n", NULL,
               "LOAD_NAME COPY POP_JUMP_IF_TRUE LOAD_CONST LOAD_CONST ASSERT_FAIL POP");
    expect_ops("assert a == b\n", NULL,
               "LOAD_NAME LOAD_NAME COPY COPY EQ POP_JUMP_IF_TRUE LOAD_CONST ASSERT_FAIL POP POP");
    expect_ops("raise E from C\n", NULL, "LOAD_NAME LOAD_NAME RAISE_VARARGS");
}

Test(compile, fstrings)
{
    expect_ops("x = f'a{b!r:>{w}}c'\n", NULL,
               "LOAD_CONST LOAD_NAME LOAD_CONST LOAD_NAME FORMAT_VALUE BUILD_STRING FORMAT_VALUE "
               "LOAD_CONST BUILD_STRING");
}

Test(compile, errors)
{
    expect_error("return 1\n", "'return' outside function", 1);
    expect_error("break\n", "'break' outside loop", 1);
    expect_error("while 1:\n  def f():\n    continue\n", "'continue' not properly in loop", 3);
    expect_error("x = 9223372036854775808\n", "integer literal too large", 1);
    expect_error("x = *a\n", "can't use starred expression here", 1);
    Proto *p = compile_ok("x = -9223372036854775808\n");
    cr_assert_eq(p->consts[0].u.i, INT64_MIN);
    proto_free(p);
}

Test(compile, repl_mode)
{
    CompileError err;
    Proto *p = compile_source("1 + 2\n", 6, "<stdin>", COMPILE_REPL, &err);
    cr_assert_not_null(p);
    cr_assert_eq(OPCODE_OP(p->code[3]), OPCODE_PRINT_EXPR);
    proto_free(p);
    const char *incomplete[] = {"if x:\n", "if x:\n  y\n", "x = (1,\n", "s = '''a\n", "x = \\\n"};
    for (int i = 0; i < 5; i++) {
        p = compile_source(incomplete[i], strlen(incomplete[i]), "<stdin>", COMPILE_REPL, &err);
        cr_assert_null(p, "%s", incomplete[i]);
        cr_assert(err.incomplete, "%s", incomplete[i]);
        compile_error_free(&err);
    }
    p = compile_source("if x:\n  y\n\n", 11, "<stdin>", COMPILE_REPL, &err);
    cr_assert_not_null(p);
    proto_free(p);
}

Test(compile, positions)
{
    Proto *p = compile_ok("x = 1\ny = f(a,\n  b) + g.h\n");
    int call = -1;
    for (int i = 0; i < p->ncode; i++) {
        if (OPCODE_OP(p->code[i]) == OPCODE_LOAD_ATTR) {
            cr_assert_eq(p->pos[i].line, 3);
            cr_assert_eq(p->pos[i].col, 7);
            cr_assert_eq(p->pos[i].end_col, 10);
        }
        if (OPCODE_OP(p->code[i]) == OPCODE_CALL) {
            call = i;
        }
    }
    cr_assert(call >= 0);
    cr_assert_eq(p->pos[call].line, 2);
    cr_assert_eq(p->pos[call].col, 4);
    proto_free(p);
}

// Every path's stack depth stays within maxstack: a straight-line check over big displays.
Test(compile, maxstack_bounds)
{
    Proto *p = compile_ok("x = [1, 2, 3, (4, 5, [6, 7, 8, 9])]\n");
    cr_assert_geq(p->maxstack, 7);
    proto_free(p);
    p = compile_ok("def f():\n  try:\n    with a as b:\n      for i in c:\n"
                   "        return d(i, 1, 2)\n"
                   "  finally:\n    pass\n");
    cr_assert_geq(find_code(p, "f")->maxstack, 6);
    proto_free(p);
}

Test(compile, disassembler)
{
    Proto *p = compile_ok("def f(a):\n  return a + 1\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    proto_disassemble(p, out);
    fclose(out);
    cr_assert(strstr(buf, "LOAD_FAST              0 (a)"), "%s", buf);
    cr_assert(strstr(buf, "<code object f>"));
    cr_assert(strstr(buf, "MAKE_FUNCTION"));
    free(buf);
    proto_free(p);
    cr_assert_str_eq(proto_opcode_name(OPCODE_CALL_EX), "CALL_EX");
}
