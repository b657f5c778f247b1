// `wk test` and the assertion reports. The runner finds test files, gives each a fresh VM (so
// no module state, weak or not, leaks between files), runs the file as a module named after
// it, then calls its top-level test_* functions in definition order with a full collection
// and the queued weak callbacks between tests. It only reads the VM through vm.h and reports
// tracebacks through exc_print; main.c returns its exit status.
#include "vm/testrun.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gc/weak.h"
#include "parser/proto.h"
#include "stdlib/help.h"
#include "stdlib/mod_testing.h"
#include "vm/attr.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/repl.h"
#include "vm/str.h"
#include "vm/table.h"

// ============================================================================================
// Assertion reports
// ============================================================================================

#define REPR_MAX 240     // longer reprs are cut in the middle
#define DIFF_ITEMS_MAX 8 // items listed per "only in left" line

// [n] bytes of [s] into [b], cut in the middle (at UTF-8 boundaries) when too long.
static void add_short(StrBuf *b, const char *s, size_t n) {
    if (n <= REPR_MAX) {
        strbuf_add(b, s, n);
        return;
    }
    size_t head = REPR_MAX * 2 / 3, from = n - (REPR_MAX - head - 3);
    while (head > 0 && ((unsigned char)s[head] & 0xc0) == 0x80) {
        head--;
    }
    while (from < n && ((unsigned char)s[from] & 0xc0) == 0x80) {
        from++;
    }
    strbuf_add(b, s, head);
    strbuf_add(b, "...", 3);
    strbuf_add(b, s + from, n - from);
}

// repr([v]) into [b]; a repr that raises shows as "<unprintable T object>".
static void add_repr(WkVM *vm, StrBuf *b, Value v) {
    ObjStr *s;
    if (!ops_repr(vm, v, &s)) {
        vm->exception = EMPTY_VAL;
        strbuf_addf(b, "<unprintable %s object>", class_of(vm, v)->name->chars);
        return;
    }
    add_short(b, s->chars, s->size);
}

// The reprs of the kept values, each computed once (a repr may have side effects).
typedef struct {
    WkVM *vm;
    Value *kept;
    int n;
    StrBuf *reprs; // reprs[i].chars NULL until computed
} Reprs;

static void add_kept(Reprs *r, StrBuf *b, int i) {
    if (i < 0 || i >= r->n) {
        strbuf_add(b, "?", 1);
        return;
    }
    if (r->reprs[i].chars == NULL) {
        strbuf_init(&r->reprs[i]);
        add_repr(r->vm, &r->reprs[i], r->kept[i]);
        strbuf_addc(&r->reprs[i], '\0');
        r->reprs[i].size--;
    }
    strbuf_add(b, r->reprs[i].chars, r->reprs[i].size);
}

static uint32_t seq_count(Value v) {
    return IS_LIST(v) ? AS_LIST(v)->count : AS_TUPLE(v)->count;
}

static Value seq_item(Value v, uint32_t i) {
    return IS_LIST(v) ? AS_LIST(v)->items[i] : AS_TUPLE(v)->items[i];
}

// Where two lists or two tuples differ: the first unequal index, or the extra items. The
// lengths are read again at each step: __eq__ may change the sequences.
static void diff_seq(WkVM *vm, StrBuf *b, Value a, Value x) {
    uint32_t i = 0;
    for (; i < seq_count(a) && i < seq_count(x); i++) {
        Value va = seq_item(a, i), vx = seq_item(x, i);
        gc_push_root(vm, va);
        gc_push_root(vm, vx);
        bool eq = true;
        bool ok = ops_equal(vm, va, vx, &eq);
        if (ok && !eq) {
            strbuf_addf(b, "\n  at index %u: ", i);
            add_repr(vm, b, va);
            strbuf_add(b, " != ", 4);
            add_repr(vm, b, vx);
        }
        gc_pop_roots(vm, 2);
        if (!ok) {
            vm->exception = EMPTY_VAL;
        }
        if (!ok || !eq) {
            return;
        }
    }
    uint32_t na = seq_count(a), nx = seq_count(x);
    if (na != nx) {
        uint32_t extra = na > nx ? na - nx : nx - na;
        strbuf_addf(b, "\n  %s has %u more item%s, first extra item: ",
                    na > nx ? "left" : "right", extra, extra == 1 ? "" : "s");
        add_repr(vm, b, seq_item(na > nx ? a : x, i));
    }
}

// Append "key: value" of [k] [v] to a "{...}" list in [b] (at most DIFF_ITEMS_MAX).
static void add_item(WkVM *vm, StrBuf *b, int *count, Value k, Value v) {
    if (*count < DIFF_ITEMS_MAX) {
        strbuf_add(b, *count ? ", " : "{", *count ? 2 : 1);
        add_repr(vm, b, k);
        strbuf_add(b, ": ", 2);
        add_repr(vm, b, v);
    } else if (*count == DIFF_ITEMS_MAX) {
        strbuf_add(b, ", ...", 5);
    }
    (*count)++;
}

// The items of dict [a] whose key [x] lacks, as "{k: v, ...}" into [only]; with [differ],
// also the keys both have with unequal values, one line each. Errors end the listing.
static void dict_minus(WkVM *vm, ObjDict *a, ObjDict *x, StrBuf *only, int *nonly,
                       StrBuf *differ) {
    uint32_t pos = 0;
    TableEntry *e;
    int ndiffer = 0;
    while ((e = table_next(&a->table, &pos)) != NULL) {
        Value k = e->key, v = e->value, xv;
        gc_push_root(vm, k);
        gc_push_root(vm, v);
        bool found, eq = true;
        bool ok = dict_get(vm, x, k, &xv, &found);
        if (ok && found && differ != NULL) {
            gc_push_root(vm, xv);
            ok = ops_equal(vm, v, xv, &eq);
            if (ok && !eq && ndiffer++ < DIFF_ITEMS_MAX) {
                strbuf_add(differ, "\n  differing value for key ", 27);
                add_repr(vm, differ, k);
                strbuf_add(differ, ": ", 2);
                add_repr(vm, differ, v);
                strbuf_add(differ, " != ", 4);
                add_repr(vm, differ, xv);
            }
            gc_pop_root(vm);
        } else if (ok && !found) {
            add_item(vm, only, nonly, k, v);
        }
        gc_pop_roots(vm, 2);
        if (!ok) {
            vm->exception = EMPTY_VAL;
            return;
        }
    }
}

static void diff_dict(WkVM *vm, StrBuf *b, ObjDict *a, ObjDict *x) {
    StrBuf left, right, differ;
    strbuf_init(&left);
    strbuf_init(&right);
    strbuf_init(&differ);
    int nleft = 0, nright = 0;
    dict_minus(vm, a, x, &left, &nleft, &differ);
    dict_minus(vm, x, a, &right, &nright, NULL);
    if (nleft > 0) {
        strbuf_addf(b, "\n  only in left: %.*s}", (int)left.size, left.chars);
    }
    if (nright > 0) {
        strbuf_addf(b, "\n  only in right: %.*s}", (int)right.size, right.chars);
    }
    strbuf_add(b, differ.chars != NULL ? differ.chars : "", differ.size);
    strbuf_free(&left);
    strbuf_free(&right);
    strbuf_free(&differ);
}

// "only in left: {...}" / "only in right: {...}" for two sets.
static void diff_set(WkVM *vm, StrBuf *b, Value a, Value x) {
    for (int side = 0; side < 2; side++) {
        Value d;
        if (!set_binary(vm, OPCODE_SUB, side ? x : a, side ? a : x, false, &d)) {
            vm->exception = EMPTY_VAL;
            return;
        }
        if (IS_SET(d) && AS_SET(d)->count > 0) {
            gc_push_root(vm, d);
            strbuf_addf(b, "\n  only in %s: ", side ? "right" : "left");
            add_repr(vm, b, d);
            gc_pop_root(vm);
        }
    }
}

// The first code point where two strings differ, with a little of what follows.
static void diff_str(WkVM *vm, StrBuf *b, ObjStr *a, ObjStr *x) {
    (void)vm;
    size_t i = 0, n = a->size < x->size ? a->size : x->size;
    while (i < n && a->chars[i] == x->chars[i]) {
        i++;
    }
    while (i > 0 && ((unsigned char)a->chars[i] & 0xc0) == 0x80) {
        i--;
    }
    bool ascii;
    size_t index = str_utf8_length(a->chars, i, &ascii);
    strbuf_addf(b, "\n  strings differ at index %zu: ", index);
    ObjStr *sides[2] = {a, x};
    for (int s = 0; s < 2; s++) {
        size_t end = i, cps = 0;
        while (end < sides[s]->size && cps < 20) {
            end++;
            while (end < sides[s]->size && ((unsigned char)sides[s]->chars[end] & 0xc0) == 0x80) {
                end++;
            }
            cps++;
        }
        strbuf_add(b, s ? " != " : "", s ? 4 : 0);
        str_repr_to(b, sides[s]->chars + i, end - i);
        if (end < sides[s]->size) {
            strbuf_add(b, "...", 3);
        }
    }
}

// "{A~B}": how kept values A and B (of an == that failed) differ, when they are containers
// or strings of the same kind.
static void add_diff(WkVM *vm, StrBuf *b, Value a, Value x) {
    if (IS_STR(a) && IS_STR(x)) {
        diff_str(vm, b, AS_STR(a), AS_STR(x));
    } else if ((IS_LIST(a) && IS_LIST(x)) || (IS_TUPLE(a) && IS_TUPLE(x))) {
        diff_seq(vm, b, a, x);
    } else if (IS_DICT(a) && IS_DICT(x)) {
        diff_dict(vm, b, AS_DICT(a), AS_DICT(x));
    } else if (IS_SET(a) && IS_SET(x)) {
        diff_set(vm, b, a, x);
    }
}

// Parse the decimal at [*i] of [s] (length [n]) into [*out].
static bool parse_index(const char *s, size_t n, size_t *i, int *out) {
    size_t j = *i;
    int v = 0;
    while (j < n && s[j] >= '0' && s[j] <= '9' && v < 100000000) {
        v = v * 10 + (s[j++] - '0');
    }
    if (j == *i) {
        return false;
    }
    *i = j;
    *out = v;
    return true;
}

// Expand the template [t] of [n] bytes into [b] (see testrun.h).
static void expand(Reprs *r, StrBuf *b, const char *t, size_t n) {
    for (size_t i = 0; i < n;) {
        char ch = t[i];
        if ((ch == '{' || ch == '}') && i + 1 < n && t[i + 1] == ch) {
            strbuf_addc(b, ch);
            i += 2;
            continue;
        }
        size_t j = i + 1;
        int a, x;
        if (ch == '{' && parse_index(t, n, &j, &a) && j < n) {
            if (t[j] == '}') {
                add_kept(r, b, a);
                i = j + 1;
                continue;
            }
            if (t[j] == '~' && (j++, parse_index(t, n, &j, &x)) && j < n && t[j] == '}' &&
                a < r->n && x < r->n) {
                add_diff(r->vm, b, r->kept[a], r->kept[x]);
                i = j + 1;
                continue;
            }
        }
        strbuf_addc(b, ch);
        i++;
    }
}

// Raise AssertionError(msg) (or AssertionError() without a message) as CPython does, with the
// explanation in __notes__, so str(e) stays CPython's and tracebacks print the explanation
// under the error line.
static bool raise_with_note(WkVM *vm, Value msg, const char *note, size_t size) {
    ObjStr *key = str_intern(vm, "__notes__", 9);
    gc_push_root(vm, OBJ_VAL(key));
    ObjTuple *args = IS_EMPTY(msg) ? tuple_new(vm, 0) : tuple_from(vm, &msg, 1);
    gc_push_root(vm, OBJ_VAL(args));
    ObjException *e = exc_new(vm, vm->cls.AssertionError, args);
    gc_push_root(vm, OBJ_VAL(e));
    ObjList *notes = list_new(vm, 1);
    gc_push_root(vm, OBJ_VAL(notes));
    list_append(vm, notes, OBJ_VAL(str_new(vm, note, size)));
    bool ok = attr_set(vm, OBJ_VAL(e), key, OBJ_VAL(notes));
    gc_pop_roots(vm, 4);
    return ok ? exc_raise_value(vm, OBJ_VAL(e)) : false;
}

bool testrun_assert_fail(WkVM *vm, Value *kept, int n, Value tmpl, Value msg) {
    StrBuf b;
    strbuf_init(&b);
    Reprs r = {vm, kept, n, calloc((size_t)(n > 0 ? n : 1), sizeof(StrBuf))};
    if (IS_STR(tmpl) && r.reprs != NULL) {
        expand(&r, &b, AS_STR(tmpl)->chars, AS_STR(tmpl)->size);
    }
    for (int i = 0; r.reprs != NULL && i < n; i++) {
        strbuf_free(&r.reprs[i]);
    }
    free(r.reprs);
    bool res = raise_with_note(vm, msg, b.chars, b.size);
    strbuf_free(&b);
    return res;
}

// ============================================================================================
// The runner
// ============================================================================================

static const char *TEST_USAGE =
    "usage: wk test [-k SUBSTRING] [-x] [-q | -v] [--gc-stress] [PATH...]\n"
    "Runs the functions named test_* of the files test_*.wk found in each PATH (folders are\n"
    "searched recursively; default: the current folder), each file in a fresh interpreter,\n"
    "with gc.collect() between tests. The last line is 'N passed, N failed[, N skipped]'.\n"
    "Options:\n"
    "  -k SUBSTRING  run only the tests whose name contains SUBSTRING\n"
    "  -x            stop at the first failure\n"
    "  -q            quiet: only failures and the summary\n"
    "  -v            verbose: also each file, the time of each test\n"
    "  --gc-stress   collect garbage at every allocation (also WK_GC_STRESS=1)\n"
    "Exit status: 0 all passed, 1 some failed, 2 usage error.\n";

typedef struct {
    const char *filter;    // -k
    bool exitfirst;        // -x
    bool stress;
    int verbosity;         // -1 (-q), 0, 1 (-v)
    int passed, failed, skipped, deselected;
    bool stop;             // -x hit, or interrupted
    StrBuf recap;          // one line per failure, printed before the summary
} Run;

typedef struct {
    char **items;
    size_t count, cap;
} Paths;

// Append [path] (NULL: out of memory, ignored) to [p]; [owned]: free it if it cannot be kept.
static void paths_add(Paths *p, char *path, bool owned) {
    if (path != NULL && p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        char **items = realloc(p->items, sizeof(char *) * cap);
        if (items == NULL) {
            if (owned) {
                free(path);
            }
            return;
        }
        p->items = items;
        p->cap = cap;
    }
    if (path != NULL) {
        p->items[p->count++] = path;
    }
}

// "dir/name" (just "name" when dir is "."), malloc'd; NULL when out of memory.
static char *join(const char *dir, const char *name) {
    size_t nd = strlen(dir), nn = strlen(name);
    if (strcmp(dir, ".") == 0) {
        nd = 0;
    }
    char *s = malloc(nd + nn + 2);
    if (s == NULL) {
        return NULL;
    }
    memcpy(s, dir, nd);
    size_t k = nd;
    if (nd > 0 && dir[nd - 1] != '/') {
        s[k++] = '/';
    }
    memcpy(s + k, name, nn + 1);
    return s;
}

static bool is_test_file(const char *name) {
    size_t n = strlen(name);
    return strncmp(name, "test_", 5) == 0 && n > 8 && strcmp(name + n - 3, ".wk") == 0;
}

// The test files under [dir], recursively, in name order; hidden entries are skipped.
static void find_tests(Paths *out, const char *dir, int depth) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        struct stat st;
        char *path = name[0] == '.' ? NULL : join(dir, name);
        if (path != NULL && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && depth < 64) {
                find_tests(out, path, depth + 1);
            } else if (S_ISREG(st.st_mode) && is_test_file(name)) {
                paths_add(out, path, true);
                path = NULL;
            }
        }
        free(path);
        free(names[i]);
    }
    free(names);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

// ---- Reporting -------------------------------------------------------------------------------

// "STATUS path[::name][ (note)][ [t ms]]".
static void print_status(Run *run, const char *status, const char *path, const char *name,
                         const char *note, double ms) {
    printf("%-5s %s%s%s", status, path, name ? "::" : "", name ? name : "");
    if (note != NULL && note[0] != '\0') {
        printf(" (%s)", note);
    }
    if (run->verbosity > 0 && ms >= 0) {
        printf(" [%.1f ms]", ms);
    }
    putchar('\n');
    fflush(stdout);
}

// The file and line an exception points at: a SyntaxError's own position, otherwise the
// innermost traceback entry (the failing statement). False when it has neither.
static bool exc_location(WkVM *vm, Value exc, char *file, size_t size, int *line) {
    ObjException *e = AS_EXCEPTION(exc);
    if (class_is_subclass(e->klass, vm->cls.SyntaxError) && e->fields != NULL) {
        Value *f = dict_get_str(e->fields, str_intern(vm, "filename", 8));
        Value *l = dict_get_str(e->fields, str_intern(vm, "lineno", 6));
        if (f != NULL && l != NULL && IS_STR(*f) && IS_INT(*l)) {
            snprintf(file, size, "%s", AS_STR(*f)->chars);
            *line = (int)AS_INT(*l);
            return true;
        }
    }
    if (!IS_LIST(e->traceback) || AS_LIST(e->traceback)->count == 0) {
        return false;
    }
    ObjList *tb = AS_LIST(e->traceback);
    Value t = tb->items[tb->count - 1];
    if (!IS_TUPLE(t) || AS_TUPLE(t)->count != 2 || !IS_INT(AS_TUPLE(t)->items[1])) {
        return false;
    }
    ObjCode *code = (ObjCode *)AS_OBJ(AS_TUPLE(t)->items[0]);
    int64_t index = AS_INT(AS_TUPLE(t)->items[1]);
    if (code->filename == NULL || code->pos == NULL || index < 0 || index >= code->ncode) {
        return false;
    }
    snprintf(file, size, "%s", code->filename->chars);
    *line = code->pos[index].line;
    return true;
}

// "Type: first line of the message" of [exc] into [b].
static void add_summary(WkVM *vm, StrBuf *b, Value exc) {
    char buf[256];
    strbuf_addf(b, "%s", class_display_name(class_of(vm, exc), buf, sizeof buf));
    ObjStr *msg = exc_message(vm, AS_EXCEPTION(exc));
    if (msg == NULL) {
        vm->exception = EMPTY_VAL;
        return;
    }
    const char *nl = memchr(msg->chars, '\n', msg->size);
    size_t n = nl != NULL ? (size_t)(nl - msg->chars) : msg->size;
    if (n > 0) {
        strbuf_add(b, ": ", 2);
        add_short(b, msg->chars, n);
    }
    // An assertion's explanation lives in __notes__: its first line says what was wrong.
    ObjDict *fields = AS_EXCEPTION(exc)->fields;
    Value *notes = fields != NULL ? dict_get_str(fields, str_intern(vm, "__notes__", 9)) : NULL;
    if (notes != NULL && IS_LIST(*notes) && AS_LIST(*notes)->count > 0 &&
        IS_STR(AS_LIST(*notes)->items[0])) {
        ObjStr *note = AS_STR(AS_LIST(*notes)->items[0]);
        nl = memchr(note->chars, '\n', note->size);
        strbuf_add(b, n > 0 ? " | " : ": ", 2 + (n > 0));
        add_short(b, note->chars, nl != NULL ? (size_t)(nl - note->chars) : note->size);
    }
}

// Print [text] ([n] bytes) with every line indented by [indent] spaces.
static void print_indented(const char *text, size_t n, int indent) {
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t len = nl != NULL ? (size_t)(nl - (text + i)) : n - i;
        printf("%*s%.*s\n", indent, "", (int)len, text + i);
        i += len + 1;
    }
}

// The details of a failed test or file: "file:line: source", then the traceback (-q: only
// the exception's message).
static void print_details(Run *run, WkVM *vm, Value exc) {
    char file[1024];
    int line;
    if (exc_location(vm, exc, file, sizeof file, &line)) {
        size_t len = 0;
        const char *text = vm_source_line(vm, file, line, &len);
        while (text != NULL && len > 0 && (*text == ' ' || *text == '\t')) {
            text++;
            len--;
        }
        printf("    %s:%d: %.*s\n", file, line, text != NULL ? (int)len : 0, text ? text : "");
    }
    char *out = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&out, &size);
    if (mem == NULL) {
        exc_print(vm, exc, stdout);
        return;
    }
    if (run->verbosity < 0) {
        ObjStr *msg = exc_message(vm, AS_EXCEPTION(exc));
        char buf[256];
        fprintf(mem, "%s", class_display_name(class_of(vm, exc), buf, sizeof buf));
        if (msg == NULL) {
            vm->exception = EMPTY_VAL;
        } else if (msg->size > 0) {
            fprintf(mem, ": %s", msg->chars);
        }
        fputc('\n', mem);
        exc_print_notes(vm, exc, mem);
    } else {
        exc_print(vm, exc, mem);
    }
    fclose(mem);
    print_indented(out, size, 4);
    free(out);
    fflush(stdout);
}

// A failure or error: its status line, details and recap line; -x stops the run.
static void report_failure(Run *run, WkVM *vm, const char *status, const char *path,
                           const char *name, Value exc, double ms) {
    run->failed++;
    print_status(run, status, path, name, NULL, ms);
    print_details(run, vm, exc);
    strbuf_addf(&run->recap, "FAILED %s%s%s - ", path, name ? "::" : "", name ? name : "");
    add_summary(vm, &run->recap, exc);
    strbuf_addc(&run->recap, '\n');
    if (run->exitfirst) {
        run->stop = true;
    }
}

// The reason of a skip: str(exc), "" when it has none.
static void skip_reason(WkVM *vm, Value exc, char *buf, size_t size) {
    ObjStr *msg = exc_message(vm, AS_EXCEPTION(exc));
    if (msg == NULL) {
        vm->exception = EMPTY_VAL;
    }
    snprintf(buf, size, "%s", msg != NULL ? msg->chars : "");
}

// ---- Running ---------------------------------------------------------------------------------

// Collect, then run the weak callbacks that queued: no weak state of one test reaches the next.
static void settle(WkVM *vm) {
    gc_collect(vm);
    weak_run_pending(vm);
    vm->exception = EMPTY_VAL;
}

// Run test [fn] called [name] of [path].
static void run_test(Run *run, WkVM *vm, const char *path, const char *name, Value fn) {
    settle(vm);
    vm->handled_count = 0;
    double t0 = now_ms();
    Value result;
    bool ok = vm_call(vm, fn, 0, NULL, NULL, &result);
    if (ok && weak_has_pending(vm)) {
        weak_run_pending(vm);
    }
    double ms = now_ms() - t0;
    if (ok) {
        run->passed++;
        if (run->verbosity >= 0) {
            print_status(run, "PASS", path, name, NULL, ms);
        }
        return;
    }
    Value exc = vm->exception;
    vm->exception = EMPTY_VAL;
    gc_push_root(vm, exc);
    if (mod_testing_is_skip(vm, exc)) {
        run->skipped++;
        if (run->verbosity >= 0) {
            char reason[512];
            skip_reason(vm, exc, reason, sizeof reason);
            print_status(run, "SKIP", path, name, reason, ms);
        }
    } else {
        bool assertion = exc_is(vm, exc, vm->cls.AssertionError);
        report_failure(run, vm, assertion ? "FAIL" : "ERROR", path, name, exc, ms);
        if (exc_is(vm, exc, vm->cls.KeyboardInterrupt)) {
            run->stop = true;
        }
    }
    gc_pop_root(vm);
}

// The module name of test file [path]: its base name without ".wk".
static ObjStr *module_name(WkVM *vm, const char *path) {
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".wk") == 0) {
        n -= 3;
    }
    return str_intern(vm, base, n);
}

// The text of [path] into [src]; false (with errno) when it cannot be read.
static bool read_source(const char *path, StrBuf *src) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return false;
    }
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        strbuf_add(src, chunk, got);
    }
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

// Make [vm]'s __main__ the module of test file [path]: __name__ is the file's stem (so an
// `if __name__ == "__main__":` block does not run), imports look beside it.
static void set_module(WkVM *vm, const char *path) {
    const char *slash = strrchr(path, '/');
    vm->script_dir = slash == NULL ? str_from_cstr(vm, ".")
                                   : str_new(vm, path, slash == path ? 1 : (size_t)(slash - path));
    Value name = OBJ_VAL(module_name(vm, path));
    gc_push_root(vm, name);
    dict_set_str(vm, vm->main_globals, vm->names.__name__, name);
    Value file = OBJ_VAL(str_from_cstr(vm, path));
    gc_push_root(vm, file);
    dict_set_str(vm, vm->main_globals, vm->names.__file__, file);
    gc_pop_roots(vm, 2);
}

// Run [path] as a module in [vm]. False (reported) when it could not be loaded: unreadable,
// a syntax error, an exception, sys.exit(), or testing.skip() at the top level.
static bool load_file(Run *run, WkVM *vm, const char *path) {
    StrBuf src;
    strbuf_init(&src);
    if (!read_source(path, &src)) {
        const char *why = strerror(errno);
        strbuf_free(&src);
        run->failed++;
        print_status(run, "ERROR", path, NULL, NULL, -1);
        printf("    cannot read %s: %s\n", path, why);
        strbuf_addf(&run->recap, "FAILED %s - cannot read: %s\n", path, why);
        run->stop = run->exitfirst;
        return false;
    }
    set_module(vm, path);
    int status = 0;
    VMResult r = vm_run_source(vm, src.chars != NULL ? src.chars : "", src.size, path,
                               vm->main_globals, false, &status);
    strbuf_free(&src);
    if (r == VM_OK) {
        return true;
    }
    if (r == VM_EXIT) {
        run->failed++;
        print_status(run, "ERROR", path, NULL, NULL, -1);
        printf("    the file called sys.exit(%d) while loading\n", status);
        strbuf_addf(&run->recap, "FAILED %s - sys.exit(%d) while loading\n", path, status);
        run->stop = run->exitfirst;
        return false;
    }
    Value exc = vm->exception;
    vm->exception = EMPTY_VAL;
    gc_push_root(vm, exc);
    if (mod_testing_is_skip(vm, exc)) {
        run->skipped++;
        if (run->verbosity >= 0) {
            char reason[512];
            skip_reason(vm, exc, reason, sizeof reason);
            print_status(run, "SKIP", path, NULL, reason, -1);
        }
    } else {
        report_failure(run, vm, "ERROR", path, NULL, exc, -1);
    }
    gc_pop_root(vm);
    return false;
}

// The top-level test_* functions of the module just run, in definition order, as a list
// [name, function, name, function, ...] (a snapshot: tests may rebind globals).
static ObjList *collect_tests(WkVM *vm) {
    ObjList *tests = list_new(vm, 8);
    gc_push_root(vm, OBJ_VAL(tests));
    Table *t = &vm->main_globals->table;
    for (uint32_t pos = 0;;) {
        TableEntry *e = table_next(t, &pos);
        if (e == NULL) {
            break;
        }
        if (IS_STR(e->key) && strncmp(AS_STR(e->key)->chars, "test_", 5) == 0 &&
            IS_FUNCTION(e->value)) {
            Value fn = e->value;
            list_append(vm, tests, e->key);
            list_append(vm, tests, fn);
        }
    }
    gc_pop_root(vm);
    return tests;
}

// Run every selected test of file [path] in a fresh VM.
static void run_file(Run *run, const char *path) {
    char *argv[] = {(char *)path};
    WkVM *vm = vm_new(1, argv);
    if (vm == NULL) {
        run->failed++;
        run->stop = true;
        printf("ERROR %s (out of memory)\n", path);
        return;
    }
    if (run->stress) {
        vm->gc.stress = true;
    }
    help_register(vm);
    repl_handle_sigint(vm);
    if (run->verbosity > 0) {
        printf("== %s\n", path);
    }
    if (load_file(run, vm, path)) {
        ObjList *tests = collect_tests(vm);
        gc_push_root(vm, OBJ_VAL(tests));
        for (uint32_t i = 0; i + 1 < tests->count && !run->stop; i += 2) {
            const char *name = AS_STR(tests->items[i])->chars;
            if (run->filter != NULL && strstr(name, run->filter) == NULL) {
                run->deselected++;
                continue;
            }
            run_test(run, vm, path, name, tests->items[i + 1]);
            run->stop = run->stop || vm->interrupted;
        }
        if (tests->count == 0 && run->verbosity >= 0) {
            print_status(run, "EMPTY", path, NULL, "no functions named test_*", -1);
        }
        gc_pop_root(vm);
    }
    fflush(stdout);
    vm->interrupted = 0;
    signal(SIGINT, SIG_DFL); // the handler points at this VM, which goes now
    vm_free(vm);
    fflush(stdout);
}

// ---- Command line ----------------------------------------------------------------------------

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "wk test: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'wk test --help' for more information.\n");
    return 2;
}

// Parse the options into [run] and the paths into [paths]. Returns -1 to go on, else the
// exit status (help: 0, usage error: 2).
static int parse_args(Run *run, int argc, char **argv, Paths *paths) {
    bool options = true;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options || a[0] != '-' || a[1] == '\0') {
            paths_add(paths, (char *)a, false);
        } else if (strcmp(a, "--") == 0) {
            options = false;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(TEST_USAGE, stdout);
            return 0;
        } else if (strcmp(a, "-k") == 0) {
            if (i + 1 >= argc) {
                return usage_error("%s requires an argument", a);
            }
            run->filter = argv[++i];
        } else if (strncmp(a, "-k", 2) == 0) {
            run->filter = a + 2;
        } else if (strcmp(a, "-x") == 0 || strcmp(a, "--exitfirst") == 0) {
            run->exitfirst = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            run->verbosity = -1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            run->verbosity = 1;
        } else if (strcmp(a, "--gc-stress") == 0) {
            run->stress = true;
        } else {
            return usage_error("unknown option %s", a);
        }
    }
    return -1;
}

// Expand the given paths into test files; a path that does not exist is a usage error.
static int find_files(Run *run, Paths *given, Paths *files) {
    for (size_t i = 0; i < given->count; i++) {
        const char *p = given->items[i];
        struct stat st;
        if (stat(p, &st) != 0) {
            return usage_error("no such file or directory: %s", p);
        }
        if (!S_ISDIR(st.st_mode)) {
            paths_add(files, join("", p), true);
            continue;
        }
        size_t before = files->count;
        find_tests(files, p, 0);
        if (files->count == before && run->verbosity >= 0) {
            printf("no test files (test_*.wk) in %s\n", p);
        }
    }
    return -1;
}

int testrun_main(int argc, char **argv) {
    Run run;
    memset(&run, 0, sizeof run);
    strbuf_init(&run.recap);
    Paths given = {0}, files = {0};
    int status = parse_args(&run, argc, argv, &given);
    if (status < 0) {
        if (given.count == 0) {
            paths_add(&given, ".", false);
        }
        status = find_files(&run, &given, &files);
    }
    for (size_t i = 0; status < 0 && i < files.count && !run.stop; i++) {
        run_file(&run, files.items[i]);
    }
    if (status < 0) {
        if (run.deselected > 0 && run.verbosity >= 0) {
            printf("%d deselected by -k %s\n", run.deselected, run.filter);
        }
        if (run.recap.size > 0 && run.verbosity >= 0) {
            printf("\n%.*s", (int)run.recap.size, run.recap.chars);
        }
        printf("%d passed, %d failed", run.passed, run.failed);
        if (run.skipped > 0) {
            printf(", %d skipped", run.skipped);
        }
        putchar('\n');
        status = run.failed > 0 ? 1 : 0;
    }
    for (size_t i = 0; i < files.count; i++) {
        free(files.items[i]);
    }
    free(files.items);
    free(given.items);
    strbuf_free(&run.recap);
    fflush(stdout);
    return status;
}
