// The `wk` command line: run a file, -c code, stdin, the REPL, --dis, `wk test`. Only this
// file chooses the exit status: 0 success, 1 uncaught error, 2 usage error.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parser/compile.h"
#include "stdlib/help.h"
#include "vm/config.h"
#include "vm/dict.h"
#include "vm/repl.h"
#include "vm/str.h"
#include "vm/testrun.h"
#include "vm/vm.h"

static const char *USAGE =
    "usage: wk [option] ... [-c cmd | file | -] [arg] ...\n"
    "       wk test [-k SUBSTRING] [-x] [-q | -v] [PATH...]   (see wk test --help)\n"
    "With no file and stdin a terminal, wk opens the interactive prompt; with stdin not a\n"
    "terminal, it runs the program read from stdin.\n"
    "Options:\n"
    "  -c CODE       run CODE as a program\n"
    "  -i            enter the interactive prompt after running the program\n"
    "  --dis FILE    print the bytecode of FILE\n"
    "  --gc-stress   collect garbage at every allocation (also WK_GC_STRESS=1)\n"
    "  --version     print the version and exit\n"
    "  -h, --help    print this help and exit\n"
    "  -             read the program from stdin\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "wk: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'wk --help' for more information.\n");
    return 2;
}

static char *slurp(FILE *f, size_t *len) {
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return NULL;
    }
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

static int disassemble(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "wk: can't open file '%s': [Errno %d] %s\n", path, errno, strerror(errno));
        return 2;
    }
    size_t len;
    char *src = slurp(f, &len);
    fclose(f);
    CompileError err;
    memset(&err, 0, sizeof err);
    Proto *p = compile_source(src, len, path, COMPILE_FILE, &err);
    free(src);
    if (p == NULL) {
        fprintf(stderr, "  File \"%s\", line %d\n%s: %s\n", err.filename ? err.filename : path,
                err.line, err.kind, err.message);
        compile_error_free(&err);
        return 1;
    }
    proto_disassemble(p, stdout);
    proto_free(p);
    return 0;
}

// The directory part of [path], for imports beside the script.
static void set_script_dir(WkVM *vm, const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        vm->script_dir = str_from_cstr(vm, ".");
    } else {
        vm->script_dir = str_new(vm, path, slash == path ? 1 : (size_t)(slash - path));
    }
}

static int run_source(WkVM *vm, const char *src, size_t len, const char *name) {
    int status = 0;
    VMResult r = vm_run_source(vm, src, len, name, vm->main_globals, false, &status);
    if (r == VM_ERROR) {
        vm_report_exception(vm);
        return 1;
    }
    return r == VM_EXIT ? status : 0;
}

// Run the program in [path] ("-": stdin). [*opened] tells whether the file could be read.
static int run_file(WkVM *vm, const char *path, bool *opened) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    *opened = f != NULL;
    if (f == NULL) {
        fprintf(stderr, "wk: can't open file '%s': [Errno %d] %s\n", path, errno, strerror(errno));
        return 2;
    }
    size_t len;
    char *src = slurp(f, &len);
    if (f != stdin) {
        fclose(f);
    }
    if (src == NULL) {
        fprintf(stderr, "wk: out of memory reading '%s'\n", path);
        return 1;
    }
    set_script_dir(vm, strcmp(path, "-") == 0 ? "./-" : path);
    int status = run_source(vm, src, len, strcmp(path, "-") == 0 ? "<stdin>" : path);
    free(src);
    return status;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "test") == 0) {
        return testrun_main(argc - 2, argv + 2);
    }
    bool interactive = false, stress = false;
    const char *code = NULL, *file = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("wk %s\n", WK_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(a, "--gc-stress") == 0) {
            stress = true;
        } else if (strcmp(a, "-i") == 0) {
            interactive = true;
        } else if (strcmp(a, "--dis") == 0) {
            if (i + 1 >= argc) {
                return usage_error("%s requires a file argument", a);
            }
            return disassemble(argv[i + 1]);
        } else if (strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) {
                return usage_error("%s requires an argument", a);
            }
            code = argv[++i];
            i++;
            break;
        } else if (strcmp(a, "--") == 0) {
            i++; // the program (if any) and its arguments follow
            file = i < argc ? argv[i] : NULL;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option %s", a);
        } else {
            file = a;
            break;
        }
    }
    // sys.argv: the script path (or "-c", or "") followed by its arguments.
    int nargs = argc - i;
    char **vargv = malloc(sizeof(char *) * (size_t)(nargs + 2));
    int vargc = 0;
    if (code != NULL) {
        vargv[vargc++] = "-c";
    } else if (file == NULL) {
        vargv[vargc++] = "";
    }
    for (int k = 0; k < nargs; k++) {
        vargv[vargc++] = argv[i + k];
    }
    WkVM *vm = vm_new(vargc, vargv);
    free(vargv);
    if (vm == NULL) {
        fputs("wk: out of memory\n", stderr);
        return 1;
    }
    if (stress) {
        vm->gc.stress = true;
    }
    help_register(vm);
    repl_handle_sigint(vm);
    int status = 0;
    bool opened = true;
    if (code != NULL) {
        vm->script_dir = str_from_cstr(vm, ".");
        status = run_source(vm, code, strlen(code), "<string>");
    } else if (file != NULL) {
        status = run_file(vm, file, &opened);
    } else if (interactive || isatty(STDIN_FILENO)) {
        // The prompt itself; with -i and no program, CPython shows the banner too.
        vm->script_dir = str_from_cstr(vm, ".");
        status = repl_run(vm, isatty(STDIN_FILENO));
        interactive = false;
    } else {
        status = run_file(vm, "-", &opened);
    }
    // -i: the prompt after the program, even when it failed or called exit(), as in CPython.
    if (interactive && opened) {
        status = repl_run(vm, false);
    }
    fflush(stdout);
    vm_free(vm); // runs the finalizers still due at exit
    fflush(stdout);
    return status;
}
