// `wk test`: finds test_*.wk files, runs each file's top-level test_* functions in a fresh VM
// per file with a collection between tests, and reports one line per test and a summary.
// Also the assertion reports every failing `assert` raises (ASSERT_FAIL), in tests or not.
// It picks no exit status for the rest of wk: testrun_main returns its own to main.c.
#ifndef WK_VM_TESTRUN_H
#define WK_VM_TESTRUN_H

#include "vm/config.h"
#include "vm/vm.h"

// ---- The runner ------------------------------------------------------------------------------

// Run `wk test` with the [argc] arguments [argv] that follow "test" (options -k SUBSTRING,
// -x, -q, -v, --gc-stress, -h, then paths). Prints the report on stdout (usage errors on
// stderr). Returns the exit status: 0 all passed, 1 some failed, 2 usage error.
int testrun_main(int argc, char **argv);

// ---- Assertion reports -----------------------------------------------------------------------

// ASSERT_FAIL: raise AssertionError with the message [tmpl] (a str built by parser/compile.c)
// formatted with the [n] values [kept] an assert kept: "{N}" is repr(kept[N]) (shortened when
// long), "{A~B}" lines saying where kept[A] and kept[B] differ (lists, tuples, dicts, sets,
// strs), "{{" and "}}" braces. [msg] is the assert's own message or EMPTY; when given, the
// message reads "str(msg)\nexplanation". [kept], [tmpl] and [msg] must be rooted (the VM
// stack). Calls repr (wk code): may allocate. Always returns false with the exception pending.
WK_RAISES bool testrun_assert_fail(WkVM *vm, Value *kept, int n, Value tmpl, Value msg);

#endif
