// The interactive prompt: GNU readline with history and Tab completion, continuation lines for
// open blocks and brackets, expression values printed with repr, and SIGINT handling. It keeps
// no hidden reference to any value between inputs (no `_`). It never picks an exit status.
#ifndef WK_VM_REPL_H
#define WK_VM_REPL_H

#include <stdbool.h>

#include "vm/vm.h"

// ---- Signals ---------------------------------------------------------------------------------

// Install the SIGINT handler for [vm]: Ctrl-C sets vm->interrupted (KeyboardInterrupt at the
// loop's next safe point), or clears the line while the prompt reads. The handler reaches
// [vm] through the one process-wide pointer wk keeps, since a signal handler takes no
// arguments. Call once after vm_new; never allocates.
void repl_handle_sigint(WkVM *vm);

// ---- The prompt ------------------------------------------------------------------------------

// Run the prompt in [vm]'s __main__ until EOF (Ctrl-D) or SystemExit. [banner]: print the
// version banner first. Reads with readline, history in ~/.wk_history, when stdin is a
// terminal; otherwise reads plain lines and writes prompts to stderr. Errors print their
// traceback and the session goes on. Returns SystemExit's status, or 0 at EOF. Allocates
// (runs code); never raises.
int repl_run(WkVM *vm, bool banner);

#endif
