// Tests of the interactive prompt (suite `repl`): each runs the real ./wk on a pseudo-terminal
// (forkpty), types at it and reads what a user would see. The binary comes from $WK_BIN or
// ./wk (run from the repository root); the tests skip when it is missing. HOME is a fresh
// directory per test, so ~/.wk_history is the test's own.
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 15000 // generous: a loaded CI machine must not fail a correct REPL

typedef struct {
    pid_t pid;
    int fd;
    char *seen;   // everything read so far, with \r and escape sequences removed
    size_t len, cap;
    size_t mark;  // expect() searches from here; it moves past each match
    char home[64];
} Pty;

static const char *wk_path(void) {
    const char *p = getenv("WK_BIN");
    return p != NULL && p[0] != '\0' ? p : "./wk";
}

static void skip_without_wk(void) {
    if (access(wk_path(), X_OK) != 0) {
        cr_skip_test("no %s to drive (run make first)", wk_path());
    }
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Append raw terminal output to [p->seen], dropping \r, BEL and ANSI escape sequences (CSI
// ESC [ ... final, and two-byte ESC x). A sequence split across reads is rare enough to
// ignore for these tests.
static void absorb(Pty *p, const char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\033') {
            if (i + 1 < n && buf[i + 1] == '[') {
                i += 2;
                while (i < n && !(buf[i] >= 0x40 && buf[i] <= 0x7e)) {
                    i++;
                }
            } else {
                i++;
            }
            continue;
        }
        if (c == '\r' || c == '\a') {
            continue;
        }
        if (p->len + 2 > p->cap) {
            p->cap = p->cap ? p->cap * 2 : 4096;
            p->seen = realloc(p->seen, p->cap);
        }
        p->seen[p->len++] = c;
        p->seen[p->len] = '\0';
    }
}

// Read whatever output arrives within [ms] milliseconds. False at EOF (the child closed).
static bool pump(Pty *p, int ms) {
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    int r = poll(&pfd, 1, ms);
    if (r <= 0) {
        return true;
    }
    char buf[4096];
    ssize_t n = read(p->fd, buf, sizeof buf);
    if (n <= 0) {
        return false;
    }
    absorb(p, buf, (size_t)n);
    return true;
}

// Start ./wk [args...] on a new pty with HOME=[home] (NULL: a new temp dir).
static void spawn_in(Pty *p, const char *home, const char *arg) {
    memset(p, 0, sizeof *p);
    if (home != NULL) {
        snprintf(p->home, sizeof p->home, "%s", home);
    } else {
        snprintf(p->home, sizeof p->home, "/tmp/wk_repl_XXXXXX");
        cr_assert_not_null(mkdtemp(p->home));
    }
    struct winsize ws = {.ws_row = 24, .ws_col = 100};
    p->pid = forkpty(&p->fd, NULL, NULL, &ws);
    cr_assert_geq(p->pid, 0, "forkpty: %s", strerror(errno));
    if (p->pid == 0) {
        setenv("HOME", p->home, 1);
        setenv("TERM", "dumb", 1);
        setenv("INPUTRC", "/dev/null", 1);
        unsetenv("WK_GC_STRESS");
        if (arg != NULL) {
            execl(wk_path(), "wk", arg, (char *)NULL);
        } else {
            execl(wk_path(), "wk", (char *)NULL);
        }
        _exit(127);
    }
}

static void spawn(Pty *p) {
    spawn_in(p, NULL, NULL);
}

// Wait until [needle] appears in the output after the mark; move the mark past it. [line]:
// the test's line, for the failure message.
#define expect(p, needle) expect_at((p), (needle), __LINE__)
static void expect_at(Pty *p, const char *needle, int line) {
    long deadline = now_ms() + TIMEOUT_MS;
    for (;;) {
        const char *hit = p->len > p->mark ? strstr(p->seen + p->mark, needle) : NULL;
        if (hit != NULL) {
            p->mark = (size_t)(hit - p->seen) + strlen(needle);
            return;
        }
        long left = deadline - now_ms();
        bool open = left > 0 && pump(p, (int)(left < 100 ? left : 100));
        if (!open) {
            if (p->len > p->mark && strstr(p->seen + p->mark, needle) != NULL) {
                continue;
            }
            cr_assert_fail("line %d: expected \"%s\" (%s); after the last match:\n"
                           "%s\n---- the whole session:\n%s",
                           line, needle, left > 0 ? "wk closed the terminal" : "timed out",
                           p->len > p->mark ? p->seen + p->mark : "",
                           p->seen != NULL ? p->seen : "");
        }
    }
}

// Everything printed between the mark and the next occurrence of [needle] (which must
// appear); the mark moves past [needle]. The caller frees the result.
#define upto(p, needle) upto_at((p), (needle), __LINE__)
static char *upto_at(Pty *p, const char *needle, int line) {
    size_t from = p->mark;
    expect_at(p, needle, line);
    size_t end = p->mark - strlen(needle);
    char *s = strndup(p->seen + from, end - from);
    return s;
}

static void send(Pty *p, const char *keys) {
    size_t n = strlen(keys);
    while (n > 0) {
        ssize_t w = write(p->fd, keys, n);
        cr_assert_gt(w, 0, "write to the pty failed");
        keys += w;
        n -= (size_t)w;
    }
}

// Type [line] and Enter, then wait for the echo of the line so that the output that follows
// belongs to it.
#define type_line(p, text) type_line_at((p), (text), __LINE__)
static void type_line_at(Pty *p, const char *text, int line) {
    send(p, text);
    send(p, "\r");
    expect_at(p, text, line);
    expect_at(p, "\n", line);
}

// Wait for the child to exit; returns its exit status (-1 when killed by a signal).
static int finish(Pty *p) {
    long deadline = now_ms() + TIMEOUT_MS;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            break;
        }
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            cr_assert_fail("wk did not exit; the terminal shows:\n%s", p->seen ? p->seen : "");
        }
        pump(p, 50);
    }
    while (pump(p, 20)) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0) {
            break;
        }
    }
    close(p->fd);
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cleanup(Pty *p) {
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        close(p->fd);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/.wk_history", p->home);
    unlink(path);
    rmdir(p->home);
    free(p->seen);
}

TestSuite(repl, .timeout = 30);

// ---- Prompts, printing, errors ---------------------------------------------------------------

Test(repl, banner_and_prompt) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, "wk 0.1.0");
    expect(&p, "help()");
    expect(&p, "exit()");
    expect(&p, ">>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, continuation_for_blocks_and_brackets) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "if True:");
    expect(&p, "... ");
    type_line(&p, "    x = 5");
    expect(&p, "... ");
    type_line(&p, "    y = x * 2");
    expect(&p, "... ");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "x, y");
    expect(&p, "(5, 10)\n>>> ");
    type_line(&p, "z = [1,");
    expect(&p, "... ");
    type_line(&p, "     2]");
    expect(&p, ">>> ");
    type_line(&p, "z");
    expect(&p, "[1, 2]\n>>> ");
    type_line(&p, "class C: pass");
    expect(&p, "... ");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "C.__name__");
    expect(&p, "'C'\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, expression_values_print_their_repr) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "'ab' * 2");
    char *out = upto(&p, ">>> ");
    cr_expect_str_eq(out, "'abab'\n");
    free(out);
    type_line(&p, "None");
    out = upto(&p, ">>> ");
    cr_expect_str_eq(out, "", "None must print nothing, printed [%s]", out);
    free(out);
    type_line(&p, "print('x'); 1.5");
    out = upto(&p, ">>> ");
    cr_expect_str_eq(out, "x\n1.5\n");
    free(out);
    type_line(&p, "[None, 'a', {1: 2}]");
    expect(&p, "[None, 'a', {1: 2}]\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, no_underscore) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "40 + 2");
    expect(&p, "42\n>>> ");
    type_line(&p, "_");
    expect(&p, "NameError: name '_' is not defined");
    expect(&p, ">>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, error_then_more_input) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "kept = 'still here'");
    expect(&p, ">>> ");
    type_line(&p, "def f(): return 1 / 0");
    expect(&p, "... ");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "f()");
    expect(&p, "Traceback (most recent call last):");
    expect(&p, "ZeroDivisionError: division by zero");
    expect(&p, ">>> ");
    type_line(&p, "x = = 1");
    expect(&p, "SyntaxError");
    expect(&p, ">>> ");
    type_line(&p, "undefined_name");
    expect(&p, "NameError: name 'undefined_name' is not defined");
    expect(&p, ">>> ");
    type_line(&p, "kept");
    expect(&p, "'still here'\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, pasted_block) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    // All at once, as a terminal delivers a paste: no blank line after the def.
    send(&p, "def g():\r    return 7\rprint(g() * 6)\r");
    expect(&p, "42\n");
    expect(&p, ">>> ");
    send(&p, "for i in range(3):\r    print('i', i)\r\r");
    expect(&p, "i 0\ni 1\ni 2\n");
    expect(&p, ">>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, help_prints_a_guide) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "help()");
    expect(&p, "weakref");
    expect(&p, "gc.collect()");
    expect(&p, ">>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

// ---- Completion and history ------------------------------------------------------------------

Test(repl, complete_a_name) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "my_long_variable = 41");
    expect(&p, ">>> ");
    send(&p, "my_long_v\t");
    expect(&p, "my_long_variable");
    send(&p, " + 1\r");
    expect(&p, "42\n>>> ");
    send(&p, "pri\t");
    expect(&p, "print(");
    send(&p, "'done')\r");
    expect(&p, "done\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, complete_an_attribute) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "class K:");
    type_line(&p, "    def method_one(self): return 'm1'");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "k = K()");
    type_line(&p, "k.field_xyz = 5");
    expect(&p, ">>> ");
    send(&p, "k.field_\t");
    expect(&p, "k.field_xyz");
    send(&p, "\r");
    expect(&p, "5\n>>> ");
    send(&p, "k.meth\t");
    expect(&p, "k.method_one(");
    send(&p, ")\r");
    expect(&p, "'m1'\n>>> ");
    send(&p, "K.meth\t");
    expect(&p, "K.method_one(");
    send(&p, "k)\r");
    expect(&p, "'m1'\n>>> ");
    type_line(&p, "import math");
    expect(&p, ">>> ");
    send(&p, "math.sqr\t");
    expect(&p, "math.sqrt(");
    send(&p, "16)\r");
    expect(&p, "4.0\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, complete_a_module_after_import) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    send(&p, "import weak\t");
    expect(&p, "import weakref");
    send(&p, "\r");
    expect(&p, ">>> ");
    type_line(&p, "weakref.__name__");
    expect(&p, "'weakref'\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, history_across_two_sessions) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "remembered = 6 * 7");
    expect(&p, ">>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    char home[64];
    snprintf(home, sizeof home, "%s", p.home);
    free(p.seen);

    char path[128];
    snprintf(path, sizeof path, "%s/.wk_history", home);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    char line[256] = "";
    bool found = false;
    while (fgets(line, sizeof line, f) != NULL) {
        found = found || strstr(line, "remembered = 6 * 7") != NULL;
    }
    fclose(f);
    cr_assert(found, "the history file lacks the line");

    Pty q;
    spawn_in(&q, home, NULL);
    expect(&q, ">>> ");
    send(&q, "\020"); // Ctrl-P: the previous line, from the last session
    expect(&q, "remembered = 6 * 7");
    send(&q, "\r");
    expect(&q, ">>> ");
    type_line(&q, "remembered");
    expect(&q, "42\n>>> ");
    send(&q, "\004");
    cr_assert_eq(finish(&q), 0);
    cleanup(&q);
}

// ---- Ctrl-C, Ctrl-D, exit() ------------------------------------------------------------------

Test(repl, ctrl_c_interrupts_a_loop) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "n = 0");
    type_line(&p, "while True: n += 1");
    expect(&p, "... ");
    type_line(&p, "");
    usleep(300 * 1000);
    send(&p, "\003");
    expect(&p, "KeyboardInterrupt");
    expect(&p, ">>> ");
    type_line(&p, "n > 0");
    expect(&p, "True\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, ctrl_c_clears_the_line) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    send(&p, "garbage that is never run");
    expect(&p, "never run");
    send(&p, "\003");
    expect(&p, "KeyboardInterrupt");
    expect(&p, ">>> ");
    type_line(&p, "if True:");
    expect(&p, "... ");
    send(&p, "\003");
    expect(&p, "KeyboardInterrupt");
    expect(&p, ">>> ");
    type_line(&p, "2 + 2");
    expect(&p, "4\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, ctrl_d_runs_finalizers_and_exits_0) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "import weakref");
    type_line(&p, "class C: pass");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "c = C()");
    type_line(&p, "f = weakref.finalize(c, print, 'finalized')");
    expect(&p, ">>> ");
    send(&p, "\004");
    expect(&p, "finalized");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

Test(repl, exit_leaves_with_its_status) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "exit()");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);

    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "exit(3)");
    cr_assert_eq(finish(&p), 3);
    cleanup(&p);
}

// ---- The walk-through of DESIGN.md: no hidden reference keeps c alive ------------------------

Test(repl, weakref_walkthrough) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "import weakref");
    expect(&p, ">>> ");
    type_line(&p, "class C: pass");
    expect(&p, "... ");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "c = C()");
    expect(&p, ">>> ");
    type_line(&p, "r = weakref.ref(c)");
    expect(&p, ">>> ");
    type_line(&p, "r() is c");
    char *out = upto(&p, ">>> ");
    cr_expect_str_eq(out, "True\n");
    free(out);
    type_line(&p, "del c");
    out = upto(&p, ">>> ");
    cr_expect_str_eq(out, "");
    free(out);
    type_line(&p, "print(r())");
    out = upto(&p, ">>> ");
    cr_expect_str_eq(out, "None\n");
    free(out);
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}

// An object shown as a result is not kept alive by the prompt either (CPython's `_` would).
Test(repl, displayed_result_is_not_kept) {
    skip_without_wk();
    Pty p;
    spawn(&p);
    expect(&p, ">>> ");
    type_line(&p, "import weakref, gc");
    type_line(&p, "class C: pass");
    type_line(&p, "");
    expect(&p, ">>> ");
    type_line(&p, "c = C(); r = weakref.ref(c)");
    type_line(&p, "r()");
    expect(&p, "<__main__.C object at 0x");
    expect(&p, ">>> ");
    type_line(&p, "c = None");
    type_line(&p, "n = gc.collect()");
    type_line(&p, "print(r())");
    expect(&p, "None\n>>> ");
    send(&p, "\004");
    cr_assert_eq(finish(&p), 0);
    cleanup(&p);
}
