// The registry of built-in modules (`import sys`) and the builtins namespace. A module file
// exports one loader; to add a module, add a row to the table below.
#include "stdlib/stdlib.h"

#include <string.h>

#include "stdlib/builtins.h"
#include "stdlib/mod_gc.h"
#include "stdlib/mod_math.h"
#include "stdlib/mod_sys.h"
#include "stdlib/mod_testing.h"
#include "stdlib/mod_time.h"
#include "stdlib/mod_weakref.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/str.h"

static const struct {
    const char *name;
    StdlibLoader load;
} modules[] = {
    {"sys", mod_sys_load},
    {"math", mod_math_load},
    {"time", mod_time_load},
    {"gc", mod_gc_load},
    {"weakref", mod_weakref_load},
    {"testing", mod_testing_load},
};

void stdlib_init_builtins(WkVM *vm) {
    builtins_init(vm);
}

bool stdlib_load_module(WkVM *vm, ObjStr *name, Value *out, bool *found) {
    for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
        if (strcmp(name->chars, modules[i].name) == 0) {
            *found = true;
            return modules[i].load(vm, out);
        }
    }
    *found = false;
    return true;
}

ObjModule *stdlib_module_new(WkVM *vm, const char *name) {
    ObjStr *n = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(n));
    ObjModule *m = (ObjModule *)gc_alloc_object(vm, sizeof(ObjModule), OBJ_MODULE);
    m->name = n;
    m->globals = NULL;
    m->path = NULL;
    gc_push_root(vm, OBJ_VAL(m));
    m->globals = dict_new(vm);
    dict_set_str(vm, m->globals, vm->names.__name__, OBJ_VAL(n));
    gc_pop_roots(vm, 2);
    return m;
}

void stdlib_add_value(WkVM *vm, ObjModule *m, const char *name, Value v) {
    gc_push_root(vm, OBJ_VAL(m));
    gc_push_root(vm, v);
    ObjStr *k = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(k));
    dict_set_str(vm, m->globals, k, v);
    gc_pop_roots(vm, 3);
}

void stdlib_add_native(WkVM *vm, ObjModule *m, const char *name, NativeFn fn, int min_args,
                       int max_args, bool takes_kwargs) {
    gc_push_root(vm, OBJ_VAL(m));
    ObjNative *n = class_native_new(vm, name, fn, min_args, max_args, takes_kwargs);
    gc_pop_root(vm);
    stdlib_add_value(vm, m, name, OBJ_VAL(n));
}
