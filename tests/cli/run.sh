#!/usr/bin/env bash
# Tests of the non-interactive command line: options, stdin, sys.argv, exit statuses
# (0 success, 1 uncaught error, 2 usage error with a one-line hint).
# Usage: tests/cli/run.sh [path/to/wk]   (default ./wk from the repository root)
# Ends with "N passed, N failed"; exits 1 when any failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
WK=${1:-./wk}
case "$WK" in /*) ;; *) WK="$PWD/$WK" ;; esac
if [ ! -x "$WK" ]; then
    echo "tests/cli: no executable $WK (run make first)"
    echo "0 passed, 1 failed"
    exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# check NAME EXPECTED_STATUS EXPECTED_STDOUT EXPECTED_STDERR_SUBSTRING -- COMMAND...
# The command runs in $TMP with stdin from $STDIN (default /dev/null). An expected stdout of
# '*' matches anything; an empty stderr substring demands an empty stderr.
check() {
    local name=$1 want_status=$2 want_out=$3 want_err=$4
    shift 5
    local out err status
    out=$(cd "$TMP" && "$@" <"${STDIN:-/dev/null}" 2>"$TMP/.err")
    status=$?
    err=$(cat "$TMP/.err")
    local why=""
    [ "$status" = "$want_status" ] || why="status $status, wanted $want_status"
    if [ "$want_out" != "*" ] && [ "$out" != "$want_out" ]; then
        why="$why; stdout [$out], wanted [$want_out]"
    fi
    if [ -z "$want_err" ]; then
        [ -z "$err" ] || why="$why; unexpected stderr [$err]"
    elif [[ "$err" != *"$want_err"* ]]; then
        why="$why; stderr [$err] lacks [$want_err]"
    fi
    if [ -z "$why" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: ${why#; }"
    fi
}

# A usage error: status 2, nothing on stdout, a message and a one-line hint on stderr.
check_usage() {
    local name=$1
    shift
    local err status
    (cd "$TMP" && "$@" </dev/null >"$TMP/.out" 2>"$TMP/.err")
    status=$?
    err=$(cat "$TMP/.err")
    local lines
    lines=$(printf '%s\n' "$err" | wc -l)
    if [ "$status" = 2 ] && [ ! -s "$TMP/.out" ] && [ "$lines" -le 2 ] &&
        [[ "$err" == *"wk --help"* ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: status $status, stderr [$err]"
    fi
}

cat >"$TMP/hello.wk" <<'WK'
import sys
print("hello", sys.argv)
WK
cat >"$TMP/fail.wk" <<'WK'
def f():
    return 1 / 0
f()
WK
cat >"$TMP/syntax.wk" <<'WK'
x = (1,
WK
cat >"$TMP/exit3.wk" <<'WK'
import sys
print("before")
sys.exit(3)
print("after")
WK
cat >"$TMP/setx.wk" <<'WK'
x = 41
WK
cat >"$TMP/fin.wk" <<'WK'
import weakref
class C:
    pass
c = C()
f = weakref.finalize(c, print, "finalized at exit")
print("end of script")
WK
cat >"$TMP/helper.wk" <<'WK'
value = 7
WK
cat >"$TMP/useshelper.wk" <<'WK'
import helper
print(helper.value)
WK
printf 'x = 2\nprint(x * 21)\n1 + 1\n' >"$TMP/prog.txt"
printf 'print(x + 1)\n' >"$TMP/plus1.txt"
printf 'print("in repl")\nexit(5)\nprint("not reached")\n' >"$TMP/exit5.txt"
printf 'if True:\n    print("block")\n' >"$TMP/block.txt"

# --version, --help
check version 0 "wk 0.1.0" "" -- "$WK" --version
check version_short 0 "wk 0.1.0" "" -- "$WK" -V
out=$(cd "$TMP" && "$WK" --help 2>&1); st=$?
if [ $st = 0 ] && [[ "$out" == usage:\ wk* ]] && [[ "$out" == *"-c CODE"* ]]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL help: status $st, output [$out]"
fi
check help_short 0 "*" "" -- "$WK" -h

# -c
check c_print 0 "2" "" -- "$WK" -c 'print(1 + 1)'
check c_argv 0 "['-c', 'a', 'b']" "" -- "$WK" -c 'import sys; print(sys.argv)' a b
check c_expression_prints_nothing 0 "" "" -- "$WK" -c '1 + 1'
check c_error 1 "" "ZeroDivisionError: division by zero" -- "$WK" -c '1 / 0'
check c_error_traceback 1 "" "Traceback (most recent call last):" -- "$WK" -c '1 / 0'
check c_syntax_error 1 "" "SyntaxError" -- "$WK" -c 'x = = 1'
check c_sys_exit 3 "" "" -- "$WK" -c 'import sys; sys.exit(3)'
check c_sys_exit_zero 0 "" "" -- "$WK" -c 'import sys; sys.exit(0)'
check c_sys_exit_none 0 "" "" -- "$WK" -c 'import sys; sys.exit()'
check c_sys_exit_message 1 "" "bye" -- "$WK" -c 'import sys; sys.exit("bye")'
check c_exit_builtin 4 "" "" -- "$WK" -c 'exit(4)'
check c_quit_builtin 0 "" "" -- "$WK" -c 'quit()'
check c_uncaught_custom 1 "" "ValueError: bad" -- "$WK" -c 'raise ValueError("bad")'
check c_help 0 "*" "" -- "$WK" -c 'help()'
out=$(cd "$TMP" && "$WK" -c 'help()' 2>&1)
if [[ "$out" == *weakref* ]] && [[ "$out" == *gc.collect* ]] && [[ "$out" == *"exit()"* ]]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL help_guide: [$out]"
fi
out=$(cd "$TMP" && "$WK" -c 'import weakref; help(weakref)' 2>&1)
if [[ "$out" == *WeakKeyDictionary* ]] && [[ "$out" == *finalize* ]]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL help_weakref: [$out]"
fi
out=$(cd "$TMP" && "$WK" -c 'import gc; help(gc)' 2>&1)
if [[ "$out" == *collect* ]] && [[ "$out" == *set_threshold* ]]; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL help_gc: [$out]"
fi

# files
check file_argv 0 "hello ['hello.wk', 'x', '-c', '--y']" "" -- "$WK" hello.wk x -c --y
check file_abs_argv 0 "hello ['$TMP/hello.wk']" "" -- "$WK" "$TMP/hello.wk"
check file_after_dashdash 0 "hello ['hello.wk', '-i']" "" -- "$WK" -- hello.wk -i
check file_error 1 "" "ZeroDivisionError" -- "$WK" fail.wk
check file_error_location 1 "" 'File "fail.wk", line 2, in f' -- "$WK" fail.wk
check file_syntax_error 1 "" "SyntaxError: '(' was never closed" -- "$WK" syntax.wk
check file_exit_status 3 "before" "" -- "$WK" exit3.wk
check file_missing 2 "" "can't open file 'nope.wk'" -- "$WK" nope.wk
check file_import_beside 0 "7" "" -- "$WK" useshelper.wk
check file_finalize_at_exit 0 "end of script
finalized at exit" "" -- "$WK" fin.wk

# stdin: no prompts, expression statements print nothing
STDIN="$TMP/prog.txt" check stdin_program 0 "42" "" -- "$WK"
STDIN="$TMP/prog.txt" check stdin_dash 0 "42" "" -- "$WK" -
printf 'import sys\nprint(sys.argv)\n' >"$TMP/argv.txt"
STDIN="$TMP/argv.txt" check stdin_argv 0 "['-', 'q']" "" -- "$WK" - q
STDIN="$TMP/argv.txt" check stdin_argv_empty 0 "['']" "" -- "$WK"
printf '1/0\n' >"$TMP/err.txt"
STDIN="$TMP/err.txt" check stdin_error 1 "" 'File "<stdin>", line 1' -- "$WK"

# -i: run, then the prompt (prompts on stderr when stdin is not a terminal)
STDIN="$TMP/plus1.txt" check i_file_globals 0 "42" ">>> " -- "$WK" -i setx.wk
STDIN="$TMP/plus1.txt" check i_c_globals 0 "42" ">>> " -- "$WK" -i -c 'x = 41'
STDIN="$TMP/exit5.txt" check i_exit_status 5 "in repl" ">>> " -- "$WK" -i setx.wk
STDIN="$TMP/plus1.txt" check i_after_error 0 "1" "ZeroDivisionError" -- "$WK" -i -c 'x = 0; 1/0'
STDIN="$TMP/block.txt" check i_block_at_eof 0 "block" ">>> " -- "$WK" -i -c 'pass'
printf '2 + 3\nNone\n"s"\n' >"$TMP/exprs.txt"
STDIN="$TMP/exprs.txt" check i_prints_repr 0 "5
's'" ">>> " -- "$WK" -i
STDIN="$TMP/plus1.txt" check i_missing_file 2 "" "can't open file" -- "$WK" -i nope.wk

# --dis
check dis 0 "*" "" -- "$WK" --dis hello.wk
out=$(cd "$TMP" && "$WK" --dis hello.wk 2>/dev/null)
if [ -n "$out" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL dis_output: empty"; fi
check dis_missing 2 "" "can't open file" -- "$WK" --dis nope.wk
check dis_syntax 1 "" "SyntaxError" -- "$WK" --dis syntax.wk

# usage errors: 2 and a one-line hint
check_usage unknown_option "$WK" --bogus
check_usage unknown_short_option "$WK" -z
check_usage c_without_code "$WK" -c
check_usage dis_without_file "$WK" --dis

# Ctrl-C (SIGINT) during time.sleep raises KeyboardInterrupt at once, which a program can catch.
sigint_sleep() {
    local out
    out=$(cd "$TMP" && { "$WK" -c 'import time
try:
    time.sleep(10)
except KeyboardInterrupt:
    print("interrupted")' & pid=$!; sleep 0.5; kill -INT $pid; wait $pid; })
    if [ "$out" = "interrupted" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL sigint during time.sleep: stdout [$out]"
    fi
}
sigint_sleep

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
