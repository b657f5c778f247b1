// The interactive prompt: GNU readline, continuation lines for open blocks and brackets,
// expression values printed with repr (no `_`: the REPL keeps no hidden reference).
#ifndef WK_VM_REPL_H
#define WK_VM_REPL_H

#include "vm/vm.h"

// Let the SIGINT handler reach [vm] (the one process-wide pointer wk keeps, since a signal
// handler cannot take arguments).
void repl_attach(WkVM *vm);
// Called from the SIGINT handler: interrupts running code (KeyboardInterrupt).
void repl_interrupt(void);
// Run the prompt until EOF or exit(); returns the exit status.
int repl_run(WkVM *vm);

#endif
