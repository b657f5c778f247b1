// The builtins namespace: print, len, isinstance, ... and the constructors of the built-in
// types (int(x), str(x), list(it), ..., registered as their classes' __new__ natives so that
// calling a class dispatches to them through class_call).
#ifndef WK_STDLIB_BUILTINS_H
#define WK_STDLIB_BUILTINS_H

#include "vm/config.h"
#include "vm/vm.h"

// Register __new__ natives on the built-in classes (int, str, list, ..., super, property).
// Called by class_init_builtins once vm->cls exists. May allocate.
void builtins_init_constructors(WkVM *vm);

// Fill vm->builtins with the built-in functions, classes and exception classes (called by
// stdlib_init_builtins). May allocate.
void builtins_init(WkVM *vm);

#endif
