// help(): the REPL's short guide to wk, its weakref module and its gc module. Prints only
// through vm->out; knows nothing about readline or the prompt.
#ifndef WK_STDLIB_HELP_H
#define WK_STDLIB_HELP_H

#include "vm/vm.h"

// Add the builtin `help` to vm->builtins: help() prints the guide; help(weakref), help(gc)
// (or their names as strings) print that module's page; help(obj) lists obj's public
// attributes. Call once after vm_new. May allocate (collect); never raises.
void help_register(WkVM *vm);

#endif
