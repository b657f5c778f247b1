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

#endif
