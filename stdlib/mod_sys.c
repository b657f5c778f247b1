// The sys module: argv, exit, the stdout/stderr/stdin stream objects, modules, the recursion
// limit and facts about the interpreter. The stream objects are instances of a small built-in
// class whose header aux field says which stream they stand for.
#include "stdlib/mod_sys.h"

#include <string.h>

#include "stdlib/stdlib.h"
#include "vm/class.h"
#include "vm/inst.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/str.h"

enum { STREAM_NONE, STREAM_OUT, STREAM_ERR, STREAM_IN };

static int stream_id(Value v) {
    if (!IS_INSTANCE(v)) {
        return STREAM_NONE;
    }
    ObjClass *k = AS_INSTANCE(v)->klass;
    if (!k->builtin || strcmp(k->name->chars, "TextIOWrapper") != 0) {
        return STREAM_NONE;
    }
    return (int)AS_OBJ(v)->flags;
}

FILE *mod_sys_stream(WkVM *vm, Value v) {
    switch (stream_id(v)) {
    case STREAM_OUT:
        return vm->out;
    case STREAM_ERR:
        return vm->err;
    default:
        return NULL;
    }
}

static bool io_write(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    FILE *f = mod_sys_stream(vm, args[0]);
    if (f == NULL) {
        return exc_raise(vm, vm->cls.OSError, "not writable");
    }
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "write() argument must be str, not %s",
                         class_of(vm, args[1])->name->chars);
    }
    ObjStr *s = AS_STR(args[1]);
    fwrite(s->chars, 1, s->size, f);
    if (f == vm->err) {
        fflush(f);
    }
    *result = INT_VAL(s->length);
    return true;
}

static bool io_flush(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    FILE *f = mod_sys_stream(vm, args[0]);
    if (f != NULL) {
        fflush(f);
    }
    *result = NONE_VAL;
    return true;
}

static bool io_readline(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    if (stream_id(args[0]) != STREAM_IN) {
        return exc_raise(vm, vm->cls.OSError, "not readable");
    }
    fflush(vm->out);
    StrBuf b;
    strbuf_init(&b);
    int c;
    while ((c = fgetc(stdin)) != EOF) {
        strbuf_addc(&b, (char)c);
        if (c == '\n') {
            break;
        }
    }
    *result = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

static bool io_read(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    if (stream_id(args[0]) != STREAM_IN) {
        return exc_raise(vm, vm->cls.OSError, "not readable");
    }
    fflush(vm->out);
    StrBuf b;
    strbuf_init(&b);
    int c;
    while ((c = fgetc(stdin)) != EOF) {
        strbuf_addc(&b, (char)c);
    }
    *result = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

static bool io_repr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    int id = stream_id(args[0]);
    const char *name = id == STREAM_OUT ? "<stdout>" : id == STREAM_ERR ? "<stderr>" : "<stdin>";
    const char *mode = id == STREAM_IN ? "r" : "w";
    *result = OBJ_VAL(str_printf(vm, "<_io.TextIOWrapper name='%s' mode='%s' encoding='utf-8'>",
                                 name, mode));
    return true;
}

static bool io_isatty(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = BOOL_VAL(false);
    return true;
}

static bool sys_exit(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)kwargs, (void)result;
    ObjTuple *t = tuple_from(vm, args, (uint32_t)argc);
    gc_push_root(vm, OBJ_VAL(t));
    ObjException *e = exc_new(vm, vm->cls.SystemExit, t);
    gc_pop_root(vm);
    return exc_raise_value(vm, OBJ_VAL(e));
}

// The limit is fixed by the VM's frame array (VM_RECURSION_LIMIT); setting it is accepted and
// checked but does not move it.
static bool sys_getrecursionlimit(WkVM *vm, Value *args, int argc, ObjDict *kwargs,
                                  Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = INT_VAL(VM_RECURSION_LIMIT);
    return true;
}

static bool sys_setrecursionlimit(WkVM *vm, Value *args, int argc, ObjDict *kwargs,
                                  Value *result) {
    (void)argc, (void)kwargs;
    if (!IS_INT(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object cannot be interpreted as an integer",
                         class_of(vm, args[0])->name->chars);
    }
    if (AS_INT(args[0]) < 1) {
        return exc_raise(vm, vm->cls.ValueError, "recursion limit must be greater or equal than 1");
    }
    *result = NONE_VAL;
    return true;
}

static bool sys_intern(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    if (!IS_STR(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "intern() argument must be str, not %s",
                         class_of(vm, args[0])->name->chars);
    }
    *result = OBJ_VAL(str_intern(vm, AS_STR(args[0])->chars, AS_STR(args[0])->size));
    return true;
}

static Value new_stream(WkVM *vm, ObjClass *io, int id) {
    ObjInstance *s = inst_new(vm, io);
    s->obj.flags = (uint8_t)id; // an instance's aux belongs to gc/weak.c
    return OBJ_VAL(s);
}

static ObjClass *make_io_class(WkVM *vm) {
    ObjClass *io = class_new_builtin(vm, "TextIOWrapper", NULL, OBJ_INSTANCE);
    gc_push_root(vm, OBJ_VAL(io));
    io->module = str_intern(vm, "_io", 3);
    class_add_native(vm, io, "write", io_write, 2, 2, false);
    class_add_native(vm, io, "flush", io_flush, 1, 1, false);
    class_add_native(vm, io, "readline", io_readline, 1, 2, false);
    class_add_native(vm, io, "read", io_read, 1, 2, false);
    class_add_native(vm, io, "isatty", io_isatty, 1, 1, false);
    class_add_native(vm, io, "__repr__", io_repr, 1, 1, false);
    gc_pop_root(vm);
    return io;
}

static void add_facts(WkVM *vm, ObjModule *m) {
    stdlib_add_value(vm, m, "version", OBJ_VAL(str_from_cstr(vm, "3.11.0 (wk " WK_VERSION ")")));
    Value vi[5] = {INT_VAL(3), INT_VAL(11), INT_VAL(0), NONE_VAL, INT_VAL(0)};
    vi[3] = OBJ_VAL(str_from_cstr(vm, "final"));
    gc_push_root(vm, vi[3]);
    stdlib_add_value(vm, m, "version_info", OBJ_VAL(tuple_from(vm, vi, 5)));
    gc_pop_root(vm);
    stdlib_add_value(vm, m, "platform", OBJ_VAL(str_from_cstr(vm, "linux")));
    stdlib_add_value(vm, m, "byteorder", OBJ_VAL(str_from_cstr(vm, "little")));
    stdlib_add_value(vm, m, "executable", OBJ_VAL(str_from_cstr(vm, "wk")));
    stdlib_add_value(vm, m, "maxsize", INT_VAL(INT64_MAX));
    ObjList *path = list_new(vm, 1);
    gc_push_root(vm, OBJ_VAL(path));
    if (vm->script_dir != NULL) {
        list_append(vm, path, OBJ_VAL(vm->script_dir));
    }
    stdlib_add_value(vm, m, "path", OBJ_VAL(path));
    gc_pop_root(vm);
}

bool mod_sys_load(WkVM *vm, Value *out) {
    ObjModule *m = stdlib_module_new(vm, "sys");
    gc_push_root(vm, OBJ_VAL(m));
    stdlib_add_value(vm, m, "argv", vm->argv != NULL ? OBJ_VAL(vm->argv) : NONE_VAL);
    stdlib_add_value(vm, m, "modules", OBJ_VAL(vm->modules));
    stdlib_add_native(vm, m, "exit", sys_exit, 0, 1, false);
    stdlib_add_native(vm, m, "getrecursionlimit", sys_getrecursionlimit, 0, 0, false);
    stdlib_add_native(vm, m, "setrecursionlimit", sys_setrecursionlimit, 1, 1, false);
    stdlib_add_native(vm, m, "intern", sys_intern, 1, 1, false);
    ObjClass *io = make_io_class(vm);
    gc_push_root(vm, OBJ_VAL(io));
    stdlib_add_value(vm, m, "stdout", new_stream(vm, io, STREAM_OUT));
    stdlib_add_value(vm, m, "stderr", new_stream(vm, io, STREAM_ERR));
    stdlib_add_value(vm, m, "stdin", new_stream(vm, io, STREAM_IN));
    stdlib_add_value(vm, m, "__stdout__", *dict_get_cstr(m->globals, "stdout"));
    stdlib_add_value(vm, m, "__stderr__", *dict_get_cstr(m->globals, "stderr"));
    gc_pop_root(vm);
    add_facts(vm, m);
    gc_pop_root(vm);
    *out = OBJ_VAL(m);
    return true;
}
