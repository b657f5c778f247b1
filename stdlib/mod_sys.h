// The sys module: argv, exit, stdout/stderr/stdin objects, modules, recursion limit, version
// and platform facts. The stream objects write straight to the VM's FILE streams.
#ifndef WK_STDLIB_MOD_SYS_H
#define WK_STDLIB_MOD_SYS_H

#include <stdio.h>

#include "vm/config.h"
#include "vm/vm.h"

// Create the sys module into [*out] (may allocate; false with an exception pending).
WK_NODISCARD bool mod_sys_load(WkVM *vm, Value *out);
// The stream behind [v] when it is sys.stdout or sys.stderr (vm->out / vm->err), else NULL:
// print(file=...) writes to it directly instead of calling write(). Pure.
FILE *mod_sys_stream(WkVM *vm, Value v);

#endif
