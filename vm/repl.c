// The interactive prompt. Reads with GNU readline (the only file that includes it), gathers
// lines until an input is complete, runs it in __main__ and prints expression values (the
// compiler's PRINT_EXPR). It owns history, Tab completion and the SIGINT handler; it keeps no
// reference to any value between inputs (no `_`), and it never chooses an exit status.
#include "vm/inst.h"
#include "vm/repl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "gc/weak.h"
#include "parser/compile.h"
#include "vm/class.h"
#include "vm/config.h"
#include "vm/str.h"
#include "vm/table.h"

#define HISTORY_MAX 1000
#define KEY_INTERRUPT 3 // Ctrl-C: the tty turns it into SIGINT, so readline never reads it

// ============================================================================================
// Signals
// ============================================================================================

// The one process-wide state of wk: a signal handler takes no arguments, so it reaches the VM
// (and the prompt's reading state) through these.
static WkVM *attached;
static volatile sig_atomic_t reading;          // readline is waiting for keys
static volatile sig_atomic_t sigint_at_prompt; // Ctrl-C arrived while reading

static void on_sigint(int sig) {
    (void)sig;
    if (reading) {
        sigint_at_prompt = 1;
    } else if (attached != NULL) {
        attached->interrupted = 1;
    }
}

// While code runs, interrupted system calls restart (input() keeps reading); while the prompt
// reads, read() must fail with EINTR so that Ctrl-C clears the line at once.
static void set_sigint(bool restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, NULL);
}

void repl_handle_sigint(WkVM *vm) {
    attached = vm;
    set_sigint(true);
}

// ============================================================================================
// Reading lines
// ============================================================================================

static bool cancelled; // the line being read was abandoned with Ctrl-C

// readline's input: like its own rl_getc, but a Ctrl-C becomes the KEY_INTERRUPT key, bound to
// cancel_line below. SIGINT is blocked except inside pselect, so a Ctrl-C that arrives
// between the flag test and the wait is not lost until the next key.
static int getc_interruptible(FILE *in) {
    int fd = fileno(in);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    int result = EOF;
    for (;;) {
        if (sigint_at_prompt) {
            sigint_at_prompt = 0;
            result = KEY_INTERRUPT;
            break;
        }
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        if (pselect(fd + 1, &fds, NULL, NULL, NULL, &orig) < 0) {
            if (errno == EINTR) {
                rl_check_signals(); // a window resize
                continue;
            }
            break;
        }
        unsigned char c;
        ssize_t n = read(fd, &c, 1);
        if (n == 1) {
            result = c;
            break;
        }
        if (n == 0 || errno != EINTR) {
            break;
        }
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return result;
}

// Ctrl-C at the prompt: abandon the line (and any pending block), as CPython does.
static int cancel_line(int count, int key) {
    (void)count;
    (void)key;
    cancelled = true;
    rl_point = rl_end;
    rl_redisplay();
    rl_done = 1;
    return 0;
}

// A line from a stream that is not a terminal (wk -i < file): prompts go to stderr, as
// CPython writes them. Returns a malloc'd line without its newline, or NULL at EOF.
static char *read_plain(const char *prompt) {
    fputs(prompt, stderr);
    fflush(stderr);
    StrBuf b;
    strbuf_init(&b);
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        strbuf_addc(&b, (char)c);
    }
    if (c == EOF && b.size == 0) {
        strbuf_free(&b);
        return NULL;
    }
    char *line = malloc(b.size + 1);
    memcpy(line, b.chars != NULL ? b.chars : "", b.size);
    line[b.size] = '\0';
    strbuf_free(&b);
    return line;
}

static char *read_line(bool tty, const char *prompt) {
    cancelled = false;
    if (!tty) {
        return read_plain(prompt);
    }
    sigint_at_prompt = 0;
    set_sigint(false);
    reading = 1;
    char *line = readline(prompt);
    reading = 0;
    set_sigint(true);
    return line;
}

// ============================================================================================
// History: ~/.wk_history, capped at HISTORY_MAX lines
// ============================================================================================

static const char *history_path(void) {
    static char path[4096];
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        return NULL;
    }
    snprintf(path, sizeof path, "%s/.wk_history", home);
    return path;
}

static void history_load(void) {
    using_history();
    stifle_history(HISTORY_MAX);
    const char *path = history_path();
    if (path != NULL) {
        read_history(path);
    }
}

static void history_save(void) {
    const char *path = history_path();
    if (path != NULL && write_history(path) == 0) {
        history_truncate_file(path, HISTORY_MAX);
    }
}

// Remember [line] unless it is blank or repeats the previous entry.
static void history_add(const char *line) {
    if (line[strspn(line, " \t")] == '\0') {
        return;
    }
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last == NULL || strcmp(last->line, line) != 0) {
        add_history(line);
    }
}

// ============================================================================================
// Completion: keywords, names in scope, attributes after `.`, module names after `import`
// ============================================================================================
// Completion only reads the heap: it never calls wk code (no __getattr__, no properties) and
// never allocates managed objects, so it cannot collect or raise.

typedef struct {
    char **items;
    size_t count, cap;
} Cands;

static Cands cands; // the matches of the completion in progress (handed out by next_cand)

static void cand_add(const char *a, size_t alen, const char *b, size_t blen, const char *c) {
    if (cands.count == cands.cap) {
        cands.cap = cands.cap ? cands.cap * 2 : 64;
        cands.items = realloc(cands.items, cands.cap * sizeof(char *));
    }
    size_t clen = strlen(c);
    char *s = malloc(alen + blen + clen + 1);
    memcpy(s, a, alen);
    memcpy(s + alen, b, blen);
    memcpy(s + alen + blen, c, clen + 1);
    cands.items[cands.count++] = s;
}

static void cands_clear(void) {
    for (size_t i = 0; i < cands.count; i++) {
        free(cands.items[i]);
    }
    cands.count = 0;
}

static char *next_cand(const char *text, int state) {
    (void)text;
    return (size_t)state < cands.count ? strdup(cands.items[state]) : NULL;
}

static const char *const KEYWORDS[] = {
    "False", "None",   "True",  "and",    "as",       "assert", "break",  "class",
    "continue", "def", "del",   "elif",   "else",     "except", "finally", "for",
    "from",  "global", "if",    "import", "in",       "is",     "lambda", "nonlocal",
    "not",   "or",     "pass",  "raise",  "return",   "try",    "while",  "with",
    "yield", NULL,
};

static const char *const BUILTIN_MODULES[] = {"gc", "math", "sys", "time", "weakref", NULL};

// What CPython's rlcompleter appends to a keyword: a colon, a space or nothing.
static const char *keyword_suffix(const char *kw) {
    static const char *const bare[] = {"False", "None", "True", "break", "continue", "pass",
                                       "else", NULL};
    if (strcmp(kw, "try") == 0 || strcmp(kw, "finally") == 0) {
        return ":";
    }
    for (int i = 0; bare[i] != NULL; i++) {
        if (strcmp(kw, bare[i]) == 0) {
            return "";
        }
    }
    return " ";
}

static bool is_callable(WkVM *vm, Value v) {
    if (!IS_OBJ(v)) {
        return false;
    }
    switch ((ObjType)OBJ_TYPE(v)) {
    case OBJ_FUNCTION:
    case OBJ_NATIVE:
    case OBJ_BOUND_METHOD:
    case OBJ_CLASS:
    case OBJ_WEAKREF:
    case OBJ_FINALIZE:
    case OBJ_STATICMETHOD:
    case OBJ_CLASSMETHOD:
        return true;
    case OBJ_PROXY:
        return class_of(vm, v) == vm->cls.callable_proxy;
    case OBJ_INSTANCE:
        return (class_of(vm, v)->dunders & CLASS_D_CALL) != 0;
    default:
        return false;
    }
}

// The value of the string key [name] ([len] bytes) in [d], or NULL. A linear scan: no
// interning, no allocation.
static Value *find_name(ObjDict *d, const char *name, size_t len) {
    if (d == NULL) {
        return NULL;
    }
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&d->table, &pos)) != NULL) {
        if (IS_STR(e->key) && AS_STR(e->key)->size == len &&
            memcmp(AS_STR(e->key)->chars, name, len) == 0) {
            return &e->value;
        }
    }
    return NULL;
}

// The attribute dict an object carries itself (instance fields, module globals, function
// attributes), or NULL.
static ObjDict *own_dict(WkVM *vm, Value v) {
    if (!IS_OBJ(v)) {
        return NULL;
    }
    switch ((ObjType)OBJ_TYPE(v)) {
    case OBJ_INSTANCE:
        return inst_dict(vm, (ObjInstance *)AS_OBJ(v));
    case OBJ_EXCEPTION:
    case OBJ_WEAKREF:
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
    case OBJ_FINALIZE:
        return ((ObjInstance *)AS_OBJ(v))->fields;
    case OBJ_MODULE:
        return ((ObjModule *)AS_OBJ(v))->globals;
    case OBJ_FUNCTION:
        return AS_FUNCTION(v)->attrs;
    default:
        return NULL;
    }
}

// The first class whose chain holds [v]'s attributes: the class itself for a class, none for
// a module, else type(v).
static ObjClass *attr_class(WkVM *vm, Value v) {
    if (IS_CLASS(v)) {
        return AS_CLASS(v);
    }
    if (IS_KIND(v, OBJ_MODULE)) {
        return NULL;
    }
    return class_of(vm, v);
}

// getattr(v, name) without running code: own dict, then the class chain. False when absent
// or when only code could tell (a property).
static bool peek_attr(WkVM *vm, Value v, const char *name, size_t len, Value *out) {
    Value *slot = find_name(own_dict(vm, v), name, len);
    for (ObjClass *c = attr_class(vm, v); slot == NULL && c != NULL; c = c->base) {
        slot = find_name(c->dict, name, len);
    }
    if (slot == NULL || IS_KIND(*slot, OBJ_PROPERTY)) {
        return false;
    }
    *out = *slot;
    return true;
}

static bool is_ident(const char *s, size_t len) {
    if (len == 0 || isdigit((unsigned char)s[0])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && !((unsigned char)s[i] & 0x80)) {
            return false;
        }
    }
    return true;
}

// The value of the dotted name [expr] ([len] bytes) in __main__, or false.
static bool resolve(WkVM *vm, const char *expr, size_t len, Value *out) {
    const char *end = expr + len;
    const char *dot = memchr(expr, '.', len);
    const char *stop = dot != NULL ? dot : end;
    if (!is_ident(expr, (size_t)(stop - expr))) {
        return false;
    }
    Value *slot = find_name(vm->main_globals, expr, (size_t)(stop - expr));
    if (slot == NULL) {
        slot = find_name(vm->builtins, expr, (size_t)(stop - expr));
    }
    if (slot == NULL) {
        return false;
    }
    Value v = *slot;
    while (stop < end) {
        const char *part = stop + 1;
        dot = memchr(part, '.', (size_t)(end - part));
        stop = dot != NULL ? dot : end;
        if (!is_ident(part, (size_t)(stop - part)) ||
            !peek_attr(vm, v, part, (size_t)(stop - part), &v)) {
            return false;
        }
    }
    *out = v;
    return true;
}

// Offer the string keys of [d] that start with [prefix], as "[head]key", plus "(" for
// callables when [calls]. [hide]: 1 skips names starting with "_", 2 those starting with "__".
static void offer_dict(WkVM *vm, ObjDict *d, const char *head, size_t hlen, const char *prefix,
                       int hide, bool calls) {
    if (d == NULL) {
        return;
    }
    size_t plen = strlen(prefix);
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&d->table, &pos)) != NULL) {
        if (!IS_STR(e->key)) {
            continue;
        }
        ObjStr *k = AS_STR(e->key);
        if (k->size < plen || memcmp(k->chars, prefix, plen) != 0 ||
            (hide == 1 && k->chars[0] == '_') || (hide == 2 && strncmp(k->chars, "__", 2) == 0)) {
            continue;
        }
        cand_add(head, hlen, k->chars, k->size, calls && is_callable(vm, e->value) ? "(" : "");
    }
}

// `obj.pre<Tab>`: [text] is "obj.pre" (a dotted name ending in a partial attribute).
static void complete_attribute(WkVM *vm, const char *text) {
    const char *dot = strrchr(text, '.');
    size_t elen = (size_t)(dot - text);
    Value v;
    if (!resolve(vm, text, elen, &v)) {
        return;
    }
    const char *prefix = dot + 1;
    int hide = prefix[0] == '\0' ? 1 : (prefix[0] == '_' && prefix[1] == '\0') ? 2 : 0;
    offer_dict(vm, own_dict(vm, v), text, elen + 1, prefix, hide, true);
    for (ObjClass *c = attr_class(vm, v); c != NULL; c = c->base) {
        offer_dict(vm, c->dict, text, elen + 1, prefix, hide, true);
    }
}

// A bare name: keywords, then __main__'s globals, then the builtins.
static void complete_name(WkVM *vm, const char *text) {
    size_t len = strlen(text);
    for (int i = 0; KEYWORDS[i] != NULL; i++) {
        if (strncmp(KEYWORDS[i], text, len) == 0) {
            cand_add(KEYWORDS[i], strlen(KEYWORDS[i]), "", 0, keyword_suffix(KEYWORDS[i]));
        }
    }
    offer_dict(vm, vm->main_globals, "", 0, text, 0, true);
    offer_dict(vm, vm->builtins, "", 0, text, 0, true);
}

// Module names: the built-in ones, those already imported, and the .wk files where `import`
// looks.
static void complete_module(WkVM *vm, const char *text) {
    size_t len = strlen(text);
    for (int i = 0; BUILTIN_MODULES[i] != NULL; i++) {
        if (strncmp(BUILTIN_MODULES[i], text, len) == 0) {
            cand_add(BUILTIN_MODULES[i], strlen(BUILTIN_MODULES[i]), "", 0, "");
        }
    }
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&vm->modules->table, &pos)) != NULL) {
        if (IS_STR(e->key) && strncmp(AS_STR(e->key)->chars, text, len) == 0) {
            cand_add(AS_STR(e->key)->chars, AS_STR(e->key)->size, "", 0, "");
        }
    }
    DIR *dir = opendir(vm->script_dir != NULL ? vm->script_dir->chars : ".");
    if (dir == NULL) {
        return;
    }
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        size_t n = strlen(d->d_name);
        if (n > 3 && strcmp(d->d_name + n - 3, ".wk") == 0 && is_ident(d->d_name, n - 3) &&
            strncmp(d->d_name, text, len) == 0) {
            cand_add(d->d_name, n - 3, "", 0, "");
        }
    }
    closedir(dir);
}

// True when [line] up to [start] (skipping spaces) begins with the word [kw].
static const char *after_word(const char *line, int start, const char *kw) {
    const char *p = line + strspn(line, " \t");
    size_t n = strlen(kw);
    if (p + n > line + start || strncmp(p, kw, n) != 0 || (p[n] != ' ' && p[n] != '\t')) {
        return NULL;
    }
    return p + n;
}

// Which kind of name the word at [start] of [line] is: 'm' a module, 'f' a name of the module
// named in `from M import`, else 'n' (a name or attribute). Sets [*mod]/[*mlen] for 'f'.
static char context(const char *line, int start, const char **mod, size_t *mlen) {
    const char *p = after_word(line, start, "import");
    if (p != NULL) {
        size_t span = strspn(p, " \t,._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789");
        return p + span >= line + start && strstr(p, " as ") == NULL ? 'm' : 'n';
    }
    p = after_word(line, start, "from");
    if (p == NULL) {
        return 'n';
    }
    p += strspn(p, " \t");
    if (p >= line + start) {
        return 'm';
    }
    const char *q = p + strcspn(p, " \t");
    const char *imp = after_word(q, (int)(line + start - q), "import");
    if (imp == NULL) {
        return q >= line + start ? 'm' : 'n';
    }
    *mod = p;
    *mlen = (size_t)(q - p);
    return 'f';
}

static char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1; // never fall back to file names
    rl_completion_append_character = '\0';
    rl_completion_suppress_append = 1;
    WkVM *vm = attached;
    cands_clear();
    if (vm == NULL) {
        return NULL;
    }
    const char *mod = NULL;
    size_t mlen = 0;
    switch (context(rl_line_buffer, start, &mod, &mlen)) {
    case 'm':
        complete_module(vm, text);
        break;
    case 'f': {
        Value *m = find_name(vm->modules, mod, mlen);
        if (m != NULL) {
            offer_dict(vm, own_dict(vm, *m), "", 0, text, text[0] == '_' ? 0 : 1, false);
        }
        break;
    }
    default:
        if (strchr(text, '.') != NULL) {
            complete_attribute(vm, text);
        } else {
            complete_name(vm, text);
        }
    }
    return cands.count > 0 ? rl_completion_matches(text, next_cand) : NULL;
}

// Tab: indent (four spaces) at the start of a line, else complete. A second Tab in a row
// lists the candidates, as it does when Tab is bound to rl_complete itself.
static int on_tab(int count, int key) {
    bool blank = true;
    for (int i = 0; i < rl_point; i++) {
        if (rl_line_buffer[i] != ' ' && rl_line_buffer[i] != '\t') {
            blank = false;
            break;
        }
    }
    if (blank) {
        rl_insert_text("    ");
        return 0;
    }
    if (rl_last_func == on_tab) {
        rl_last_func = rl_complete;
    }
    return rl_complete(count, key);
}

static void readline_setup(void) {
    rl_readline_name = "wk";
    rl_catch_signals = 0; // on_sigint is ours; readline keeps its SIGWINCH handling
    rl_getc_function = getc_interruptible;
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t\n`~!@#$%^&*()-=+[{]}\\|;:'\",<>/?";
    rl_bind_key('\t', on_tab);
    rl_bind_key(KEY_INTERRUPT, cancel_line);
    history_load();
}

// ============================================================================================
// Gathering an input and running it
// ============================================================================================
// An input is one line, or several when the first opens a compound statement (ended by a
// blank line, as in CPython) or leaves a bracket, string or backslash open (ended when the
// compiler accepts it).

typedef struct {
    WkVM *vm;
    bool tty;
    StrBuf buf;   // the pending input, each line ending in '\n'
    int nlines;
    bool block;   // the first line opened a compound statement: a blank line ends it
    int count;    // inputs run so far (names them for tracebacks)
    bool done;    // SystemExit: leave with [status]
    int status;
} Repl;

static bool is_blank(const char *line) {
    return line[strspn(line, " \t\r\f")] == '\0';
}

// The first word of [line] is one of the NULL-terminated [words].
static bool starts_with_word(const char *line, const char *const *words) {
    const char *p = line + strspn(line, " \t");
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_') {
        n++;
    }
    for (int i = 0; words[i] != NULL; i++) {
        if (strlen(words[i]) == n && strncmp(p, words[i], n) == 0) {
            return true;
        }
    }
    return false;
}

static bool opens_block(const char *line) {
    static const char *const heads[] = {"if", "while", "for", "try", "with", "def", "class",
                                        NULL};
    return line[strspn(line, " \t")] == '@' || starts_with_word(line, heads);
}

// The pending input as if a blank line ended it; the caller frees the result with
// compile_error_free. Returns whether it compiles, with the error in [*err] otherwise.
static bool try_compile(Repl *r, CompileError *err) {
    strbuf_addc(&r->buf, '\n');
    memset(err, 0, sizeof *err);
    Proto *p = compile_source(r->buf.chars, r->buf.size, "<stdin>", COMPILE_REPL, err);
    r->buf.size--;
    if (p != NULL) {
        proto_free(p);
    }
    return p != NULL;
}

// A compile error that more lines cannot fix sits on a line already typed.
static bool error_is_final(Repl *r, const CompileError *err) {
    return !err->incomplete && err->line >= 1 && err->line <= r->nlines;
}

// Input ended by a bracket, a string or a backslash that is still open (a blank line does
// not end it).
static bool open_token(const CompileError *err) {
    return err->incomplete && strcmp(err->kind, "IndentationError") != 0;
}

static void reset(Repl *r) {
    r->buf.size = 0;
    r->nlines = 0;
    r->block = false;
}

// Run the pending input in __main__ and forget it. Leaves nothing on the VM stack, in its
// frames or in its exception state: the REPL holds no hidden reference to a result.
static void run_pending(Repl *r) {
    WkVM *vm = r->vm;
    strbuf_addc(&r->buf, '\n'); // the blank line that closes a block
    char name[32];
    snprintf(name, sizeof name, "<stdin-%d>", ++r->count);
    int code = 0;
    vm->interrupted = 0;
    VMResult res = vm_run_source(vm, r->buf.chars, r->buf.size, name, vm->main_globals, true,
                                 &code);
    reset(r);
    fflush(vm->out);
    if (res == VM_ERROR) {
        vm_report_exception(vm);
    } else if (res == VM_OK && vm->interrupted) {
        // Ctrl-C reached a native that returned early (time.sleep) after the last safe point.
        fputs("KeyboardInterrupt\n", vm->err);
    }
    vm->interrupted = 0;
    vm->exception = EMPTY_VAL;
    vm->stack_top = vm->stack;
    vm->frame_count = 0;
    vm->handled_count = 0;
    vm->native_depth = 0;
    if (weak_has_pending(vm)) {
        weak_run_pending(vm);
        vm->exception = EMPTY_VAL;
    }
    fflush(vm->out);
    fflush(vm->err);
    if (res == VM_EXIT) {
        r->done = true;
        r->status = code;
    }
}

// A blank [line]: it ends a block, unless a bracket or string is still open (then it is
// part of the input, spaces and all).
static void feed_blank(Repl *r, const char *line) {
    CompileError err;
    bool ok = try_compile(r, &err);
    bool more = !ok && open_token(&err);
    compile_error_free(&err);
    if (more) {
        strbuf_add(&r->buf, line, strlen(line));
        strbuf_addc(&r->buf, '\n');
        r->nlines++;
        return;
    }
    run_pending(r);
}

// Inside a block, a line at column 0 that cannot continue it (pasted code) ends the block
// when what came before is complete.
static bool ends_block(Repl *r, const char *line) {
    static const char *const continuations[] = {"else", "elif", "except", "finally", NULL};
    if (!r->block || line[0] == ' ' || line[0] == '\t' || line[0] == '#' ||
        starts_with_word(line, continuations)) {
        return false;
    }
    CompileError err;
    bool ok = try_compile(r, &err);
    compile_error_free(&err);
    return ok;
}

// One physical line of input.
static void feed_line(Repl *r, const char *line) {
    if (r->nlines == 0 && is_blank(line)) {
        return;
    }
    if (r->nlines > 0 && is_blank(line)) {
        feed_blank(r, line);
        return;
    }
    if (r->nlines > 0 && ends_block(r, line)) {
        run_pending(r);
        if (r->done) {
            return;
        }
    }
    if (r->nlines == 0) {
        r->block = opens_block(line);
    }
    strbuf_add(&r->buf, line, strlen(line));
    strbuf_addc(&r->buf, '\n');
    r->nlines++;
    CompileError err;
    bool ok = try_compile(r, &err);
    // Complete: run it, unless a compound statement waits for its blank line. Broken: report
    // it, unless more lines may still fix it.
    bool run = ok ? !r->block : error_is_final(r, &err) || (!r->block && !err.incomplete);
    compile_error_free(&err);
    if (run) {
        run_pending(r);
    }
}

// Feed what readline returned: one line, or several when a bracketed paste brought newlines.
static void feed(Repl *r, const char *text) {
    for (;;) {
        const char *nl = strchr(text, '\n');
        if (nl == NULL) {
            feed_line(r, text);
            return;
        }
        char *one = strndup(text, (size_t)(nl - text));
        feed_line(r, one);
        free(one);
        if (r->done) {
            return;
        }
        text = nl + 1;
    }
}

static void print_banner(void) {
    printf("wk %s (a subset of Python 3 with first-class weak references)\n", WK_VERSION);
    printf("Type help() for a short guide, exit() or Ctrl-D to leave.\n");
    fflush(stdout);
}

int repl_run(WkVM *vm, bool banner) {
    Repl r = {.vm = vm, .tty = isatty(STDIN_FILENO) != 0};
    strbuf_init(&r.buf);
    vm->repl = true;
    if (r.tty) {
        readline_setup();
        // input() reads stdin with stdio: unbuffered, it takes only its own line and leaves
        // typed-ahead lines to readline.
        setvbuf(stdin, NULL, _IONBF, 0);
    }
    if (banner) {
        print_banner();
    }
    while (!r.done) {
        char *line = read_line(r.tty, r.nlines == 0 ? ">>> " : "... ");
        if (cancelled) {
            free(line);
            reset(&r);
            fputs("\n", stdout);
            fflush(stdout);
            fputs("KeyboardInterrupt\n", stderr);
            continue;
        }
        if (line == NULL) {
            if (r.tty) {
                fputs("\n", stdout);
            }
            if (r.nlines > 0 && !r.tty) {
                run_pending(&r); // the last block of a piped session needs no blank line
            }
            break;
        }
        if (r.tty) {
            history_add(line);
        }
        feed(&r, line);
        free(line);
    }
    if (r.tty) {
        history_save();
    }
    fflush(stdout);
    strbuf_free(&r.buf);
    cands_clear();
    free(cands.items);
    cands.items = NULL;
    cands.cap = 0;
    vm->repl = false;
    return r.status;
}
