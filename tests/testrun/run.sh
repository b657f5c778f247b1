#!/usr/bin/env bash
# Tests of `wk test` on the fixtures in tests/testrun/fixtures: passing, failing, erroring and
# skipped tests, a syntax error, an empty folder, a file without tests, -k, -x, -q, -v, exit
# statuses, and the assertion reports of each assert form (in `wk test` and in plain scripts).
# Usage: tests/testrun/run.sh [path/to/wk]   (default ./wk from the repository root)
# Ends with "N passed, N failed"; exits 1 when any failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
WK=${1:-./wk}
case "$WK" in /*) ;; *) WK="$PWD/$WK" ;; esac
if [ ! -x "$WK" ]; then
    echo "tests/testrun: no executable $WK (run make first)"
    echo "0 passed, 1 failed"
    exit 1
fi
F=tests/testrun/fixtures
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
OUT=""
ERR=""
STATUS=0
NAME=""

# run NAME ARGS...: run `wk test ARGS` from the repository root; keep stdout, stderr, status.
run() {
    NAME=$1
    shift
    OUT=$("$WK" test "$@" 2>"$TMP/err")
    STATUS=$?
    ERR=$(cat "$TMP/err")
}

ok() {
    passed=$((passed + 1))
}

bad() {
    failed=$((failed + 1))
    echo "FAIL $NAME: $1"
}

# status N: the last run exited with N.
status() {
    if [ "$STATUS" = "$1" ]; then ok; else bad "exit status $STATUS, wanted $1"; fi
}

# line TEXT: stdout has the exact line TEXT.
line() {
    if printf '%s\n' "$OUT" | grep -qxF -- "$1"; then ok; else bad "no line [$1]"; fi
}

# match REGEX: some stdout line matches the extended REGEX.
match() {
    if printf '%s\n' "$OUT" | grep -qE -- "$1"; then ok; else bad "no line matching [$1]"; fi
}

# noline TEXT: no stdout line contains TEXT.
noline() {
    if printf '%s\n' "$OUT" | grep -qF -- "$1"; then bad "unexpected [$1]"; else ok; fi
}

# last TEXT: the last stdout line is TEXT.
last() {
    local l
    l=$(printf '%s\n' "$OUT" | tail -n 1)
    if [ "$l" = "$1" ]; then ok; else bad "last line [$l], wanted [$1]"; fi
}

# order A B...: the status lines of stdout (PASS/FAIL/ERROR/SKIP/EMPTY) are exactly these.
order() {
    local got want
    got=$(printf '%s\n' "$OUT" | grep -E '^(PASS|FAIL|ERROR|SKIP|EMPTY) ' | sed 's/ *(.*//')
    want=$(printf '%s\n' "$@")
    if [ "$got" = "$want" ]; then ok; else bad "status lines [$got], wanted [$want]"; fi
}

P=$F/pass/test_pass.wk
run "passing" $F/pass
status 0
order "PASS  $P::test_arithmetic" "PASS  $P::test_raises_catches_the_expected_exception" \
    "PASS  $P::test_collected_sees_the_death"
last "3 passed, 0 failed"

run "passing under --gc-stress" --gc-stress $F/pass
status 0
last "3 passed, 0 failed"

(cd $F/pass && "$WK" test >"$TMP/out" 2>&1)
STATUS=$?
OUT=$(cat "$TMP/out")
NAME="no path: the current folder"
status 0
line "PASS  test_pass.wk::test_arithmetic"
last "3 passed, 0 failed"

P=$F/fail/test_fail.wk
run "failing" $F/fail
status 1
line "FAIL  $P::test_cache_forgets_b"
line "    $P:20: assert cache.get(\"b\") is None"
line "    Traceback (most recent call last):"
line "      File \"$P\", line 20, in test_cache_forgets_b"
line "    assert Item('b') is None"
line "      where Item('b') = cache.get('b')"
line "FAILED $P::test_cache_forgets_b - AssertionError: assert Item('b') is None"
last "0 passed, 1 failed"

run "a file given by name" $P
status 1
last "0 passed, 1 failed"

P=$F/error/test_error.wk
run "erroring" $F/error
status 1
order "ERROR $P::test_errors" "PASS  $P::test_runs_after_the_error"
line "    $P:3: return d[k]"
line "    KeyError: 'k'"
line "FAILED $P::test_errors - KeyError: 'k'"
last "1 passed, 1 failed"

run "skipped" $F/skip
status 0
order "SKIP  $F/skip/test_skip.wk::test_skipped" \
    "SKIP  $F/skip/test_skip.wk::test_skip_passes_through_except_exception" \
    "PASS  $F/skip/test_skip.wk::test_passes" "SKIP  $F/skip/test_skip_module.wk"
line "SKIP  $F/skip/test_skip.wk::test_skipped (needs a network)"
line "SKIP  $F/skip/test_skip_module.wk (not on this platform)"
last "1 passed, 0 failed, 3 skipped"

P=$F/syntax/test_syntax.wk
run "syntax error" $F/syntax
status 1
order "ERROR $P"
line "    $P:4: def test_broken(:"
line "    SyntaxError: invalid syntax"
last "0 passed, 1 failed"

run "empty folder" $F/empty
status 0
line "no test files (test_*.wk) in $F/empty"
last "0 passed, 0 failed"

mkdir "$TMP/bare"
run "really empty folder" "$TMP/bare"
status 0
last "0 passed, 0 failed"

run "file without tests" $F/notests
status 0
line "EMPTY $F/notests/test_notests.wk (no functions named test_*)"
last "0 passed, 0 failed"

P=$F/mixed/test_mixed.wk
run "definition order" $F/mixed
status 1
order "PASS  $P::test_zeta_passes" "FAIL  $P::test_alpha_fails" "ERROR $P::test_mid_errors" \
    "SKIP  $P::test_beta_skipped" "PASS  $P::test_last_passes"
last "2 passed, 2 failed, 1 skipped"

run "-k selects by name" -k passes $F/mixed
status 0
order "PASS  $P::test_zeta_passes" "PASS  $P::test_last_passes"
line "3 deselected by -k passes"
last "2 passed, 0 failed"

run "-k selecting a failure" -k alpha $F/mixed
status 1
last "0 passed, 1 failed"

run "-x stops at the first failure" -x $F/mixed
status 1
order "PASS  $P::test_zeta_passes" "FAIL  $P::test_alpha_fails"
noline "test_mid_errors"
last "1 passed, 1 failed"

run "-x across files" -x $F/error $F/pass
status 1
noline "test_arithmetic"
last "0 passed, 1 failed"

run "-q: failures only" -q $F/mixed
status 1
order "FAIL  $P::test_alpha_fails" "ERROR $P::test_mid_errors"
line "    $P:10: assert [1, 2] == [1, 3]"
line "    assert [1, 2] == [1, 3]"
noline "Traceback"
last "2 passed, 2 failed, 1 skipped"

run "-v: files and times" -v $F/pass
status 0
line "== $F/pass/test_pass.wk"
match "^PASS  $F/pass/test_pass.wk::test_arithmetic \[[0-9.]+ ms\]$"
last "3 passed, 0 failed"

run "recursive search" $F/nested
status 0
order "PASS  $F/nested/deeper/test_deep.wk::test_found_in_a_subfolder"
last "1 passed, 0 failed"

run "isolation between tests and files" $F/isolation
status 0
last "4 passed, 0 failed"

run "the whole fixture tree" $F
status 1
last "12 passed, 20 failed, 4 skipped"

# Usage errors: status 2, a message and a hint on stderr, nothing on stdout.
for args in "-z" "-k" "$F/no-such-folder"; do
    run "usage error: $args" $args
    status 2
    if [ -z "$OUT" ] && [[ "$ERR" == *"wk test --help"* ]]; then
        ok
    else
        bad "stdout [$OUT] stderr [$ERR]"
    fi
done
run "--help" --help
status 0
match "^usage: wk test"

# The assertion reports, one form per test.
P=$F/asserts/test_asserts.wk
run "assertion reports" $F/asserts
status 1
line "    assert [1, 2] == [1, 3]"
line "      at index 1: 2 != 3"
line "    assert 3 is None"
line "    assert None is not None"
line "    assert 4 in [1, 2, 3]"
line "    assert 'a' not in {'a': 1}"
line "    assert 5 < 2"
line "    assert not [1]"
line "    assert False"
match "^      where False = is_dead\(<weakref at 0x[0-9a-f]+; to 'Obj' at 0x[0-9a-f]+>\)$"
line "    AssertionError: numbers differ"
line "    assert 1 == 2"
line "    assert 2 == 1"
line "      where 2 = len([1, 2])"
line "    assert {'a': 1, 'b': 2} == {'a': 1, 'c': 3}"
line "      only in left: {'b': 2}"
line "      only in right: {'c': 3}"
line "    assert <Obj> is None"
line "      where <Obj> = r()"
match "^      where False = <finalize object at 0x[0-9a-f]+; dead>\.alive$"
line "    assert []"
line "    assert [1, 0, 2] == [1, 0]"
line "      left has 1 more item, first extra item: 2"
last "0 passed, 15 failed"

# The same reports outside `wk test`, in a plain script.
cat >"$TMP/plain.wk" <<'EOF'
import weakref
class Obj:
    def __repr__(self):
        return "<Obj>"
o = Obj()
r = weakref.ref(o)
assert r() is not None
assert r() is None, "still alive"
EOF
NAME="plain script"
"$WK" "$TMP/plain.wk" >"$TMP/out" 2>"$TMP/err"
STATUS=$?
OUT=$(cat "$TMP/err")
status 1
line "AssertionError: still alive"
line "assert <Obj> is None"
line "  where <Obj> = r()"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
