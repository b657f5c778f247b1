// The built-in modules' registry: `import NAME` of a module implemented in C, and the
// builtins namespace.
#ifndef WK_STDLIB_STDLIB_H
#define WK_STDLIB_STDLIB_H

#include "vm/config.h"
#include "vm/vm.h"

// Fill vm->builtins with the built-in functions and classes (print, len, int, ...).
void stdlib_init_builtins(WkVM *vm);
// When [name] is a built-in module (sys, math, time, gc, weakref), create it (once; the
// caller caches it in vm->modules) into *out and set *found. May raise.
WK_NODISCARD bool stdlib_load_module(WkVM *vm, ObjStr *name, Value *out, bool *found);

// ---- Helpers for the module files (mod_*.c) --------------------------------------------------

// A loader: create module [*out] (may allocate; false with an exception pending).
typedef bool (*StdlibLoader)(WkVM *vm, Value *out);

// A new built-in module [name] with a globals dict holding __name__ (may allocate). The
// caller roots it before the next allocation.
ObjModule *stdlib_module_new(WkVM *vm, const char *name);
// Bind [name] in [m]'s globals to a new native [fn] (arguments as class_add_native).
void stdlib_add_native(WkVM *vm, ObjModule *m, const char *name, NativeFn fn, int min_args,
                       int max_args, bool takes_kwargs);
// Bind [name] in [m]'s globals to [v] (may allocate; [v] is rooted meanwhile).
void stdlib_add_value(WkVM *vm, ObjModule *m, const char *name, Value v);

#endif
