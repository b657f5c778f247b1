// The interactive prompt. Reads with GNU readline (the only file that includes it), asks the
// compiler whether the input is complete, runs each complete input in __main__ and prints
// expression values. Errors print their traceback and the session goes on.
#include "vm/repl.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/compile.h"
#include "vm/str.h"

static WkVM *attached;

void repl_attach(WkVM *vm) {
    attached = vm;
}

void repl_interrupt(void) {
    if (attached != NULL) {
        attached->interrupted = 1;
    }
}

// True when [src] needs more lines: the compiler says so, or a block is still open.
static bool incomplete(const char *src, size_t len) {
    CompileError err;
    memset(&err, 0, sizeof err);
    Proto *p = compile_source(src, len, "<stdin>", COMPILE_REPL, &err);
    if (p != NULL) {
        proto_free(p);
        return false;
    }
    bool more = err.incomplete;
    compile_error_free(&err);
    return more;
}

static void print_banner(void) {
    printf("wk %s — a small language with first-class weak references\n", WK_VERSION);
    printf("Type help() for a short guide, exit() or Ctrl-D to leave.\n");
}

int repl_run(WkVM *vm) {
    print_banner();
    StrBuf buf;
    strbuf_init(&buf);
    int status = 0;
    for (;;) {
        char *line = readline(buf.size == 0 ? ">>> " : "... ");
        if (line == NULL) {
            printf("\n");
            break;
        }
        if (line[0] != '\0') {
            add_history(line);
        }
        bool blank = line[strspn(line, " \t")] == '\0';
        strbuf_add(&buf, line, strlen(line));
        strbuf_addc(&buf, '\n');
        free(line);
        bool continuing = buf.size > 0 && strchr(buf.chars, '\n') != buf.chars + buf.size - 1;
        if (!blank && incomplete(buf.chars, buf.size)) {
            continue;
        }
        if (continuing && !blank) {
            continue; // a block is open: a blank line ends it
        }
        vm->interrupted = 0;
        int code = 0;
        VMResult r = vm_run_source(vm, buf.chars, buf.size, "<stdin>", vm->main_globals, true,
                                   &code);
        buf.size = 0;
        fflush(stdout);
        if (r == VM_ERROR) {
            vm_report_exception(vm);
        } else if (r == VM_EXIT) {
            status = code;
            break;
        }
    }
    strbuf_free(&buf);
    return status;
}
