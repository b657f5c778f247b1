#!/usr/bin/env python3
"""Script-test runner for wk.

Runs every tests/scripts/**/*.wk file with the wk binary and checks its output
against the directives written in the file as Python comments:

  # expect: TEXT        next expected stdout line (on the printing line or alone)
  # expect error: T: M  the raising line: exit 1, last stderr line "T: M" (or just
                        type "T"), innermost traceback entry names this line
  # stdin: TEXT         joined with newlines and fed to the program as stdin
  # skip: reason        not run, counted as skipped
  # no-stress: reason   not run under --stress (a collection at every allocation)
  # wk-only: reason     deliberate difference from CPython: no python3 cross-check
  # nontest             a helper module, not a test

Unless --no-cpython is given (or the file is wk-only, or python3 is missing), each
file is also run under python3 and must meet the same expectations.
`--wk python3` checks the expectations against CPython alone.

Standard library only.
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys

DEFAULT_TIMEOUT = 5.0
STRESS_TIMEOUT = 30.0
SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")

RE_EXPECT = re.compile(r"#\s*expect:(.*)$")
RE_ERROR = re.compile(r"#\s*expect error:(.*)$")
RE_STDIN = re.compile(r"#\s*stdin:(.*)$")
RE_SKIP = re.compile(r"#\s*skip:(.*)$")
RE_NOSTRESS = re.compile(r"#\s*no-stress:(.*)$")
RE_WKONLY = re.compile(r"#\s*wk-only:(.*)$")
RE_NONTEST = re.compile(r"^\s*#\s*nontest\b")
RE_TB_LINE = re.compile(r'^\s*File "(.*)", line (\d+)')


# ---------------------------------------------------------------- directives

class Spec:
    """What one test file expects, read from its directives."""

    def __init__(self, path):
        self.path = path
        self.expected = []        # stdout lines
        self.error = None         # "Type: message" or "Type"
        self.error_line = None    # 1-based line of the error directive
        self.stdin_lines = []
        self.skip = None
        self.no_stress = None     # reason the file is skipped under --stress
        self.wk_only = None
        self.nontest = False
        self.problems = []        # malformed directives

    @property
    def stdin(self):
        if not self.stdin_lines:
            return b""
        return ("\n".join(self.stdin_lines) + "\n").encode("utf-8")

    @property
    def error_type(self):
        return self.error.split(":", 1)[0].strip()


def directive_text(m):
    text = m.group(1)
    if text.startswith(" "):
        text = text[1:]
    return text.rstrip()


def parse_spec(path):
    spec = Spec(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if RE_NONTEST.match(line):
            spec.nontest = True
        m = RE_ERROR.search(line)
        if m:
            if spec.error is not None:
                spec.problems.append(f"line {lineno}: second '# expect error:'")
            spec.error = directive_text(m)
            spec.error_line = lineno
            if not spec.error:
                spec.problems.append(f"line {lineno}: empty '# expect error:'")
            continue
        m = RE_EXPECT.search(line)
        if m:
            spec.expected.append(directive_text(m))
            continue
        m = RE_STDIN.search(line)
        if m:
            spec.stdin_lines.append(directive_text(m))
            continue
        m = RE_NOSTRESS.search(line)
        if m:
            spec.no_stress = directive_text(m) or "no-stress"
            continue
        m = RE_SKIP.search(line)
        if m:
            spec.skip = directive_text(m) or "skipped"
            continue
        m = RE_WKONLY.search(line)
        if m:
            spec.wk_only = directive_text(m) or "wk-only"
    return spec


# ---------------------------------------------------------------- running

class Run:
    def __init__(self, status, stdout, stderr, timed_out=False, oserror=None):
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.oserror = oserror


def run_program(argv, stdin, timeout, env):
    """Run [argv] in its own process group so that a timeout kills it entirely."""
    posix = os.name == "posix"
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env,
                             start_new_session=posix)
    except OSError as e:
        return Run(None, b"", b"", oserror=str(e))
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        if posix:
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
        p.kill()
        out, err = p.communicate()
        return Run(None, out or b"", err or b"", timed_out=True)
    return Run(p.returncode, out, err)


def out_lines(data):
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip() for line in lines]


def last_nonempty(lines):
    for line in reversed(lines):
        if line.strip():
            return line.rstrip()
    return None


def stderr_tail(lines, n=4):
    tail = [line for line in lines if line.strip()][-n:]
    return ["stderr: " + line for line in tail]


RE_EXC_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(: .*)?$")


def exception_line(lines):
    """The "Type: message" line of a traceback: the last line shaped like one. Lines after it
    are notes (CPython 3.11's __notes__; wk's assertion explanations)."""
    for line in reversed(lines):
        if RE_EXC_LINE.match(line):
            return line
    return last_nonempty(lines)


def check(spec, run, full=True):
    """Problems (a list of strings, empty when the run meets the spec).
    [full] also checks the traceback line (not done for the cpython cross-check)."""
    if run.oserror:
        return [f"cannot run: {run.oserror}"]
    err = out_lines(run.stderr)
    if run.timed_out:
        return ["timed out"] + stderr_tail(err)
    problems = []
    actual = out_lines(run.stdout)
    if actual != spec.expected:
        problems.extend(diff_lines(spec.expected, actual))
    if spec.error is None:
        if run.status != 0:
            problems.append(f"exit status {run.status}, expected 0")
    else:
        if run.status != 1:
            problems.append(f"exit status {run.status}, expected 1")
        last = exception_line(err)
        want = spec.error
        if ":" in want:
            ok = last == want
        else:
            ok = last is not None and (last == want or last.startswith(want + ":"))
        if not ok:
            problems.append(f"last stderr line: expected {want!r}, got {last!r}")
        if full and ok:
            tb = [RE_TB_LINE.match(line) for line in err]
            tb = [m for m in tb if m]
            if tb:
                n = int(tb[-1].group(2))
                if n != spec.error_line:
                    problems.append(f"innermost traceback line {n}, "
                                    f"expected {spec.error_line}")
            elif spec.error_type not in SYNTAX_ERRORS:
                problems.append("no 'File \"...\", line N' traceback line on stderr")
    if problems and (spec.error is None or run.status != 1):
        problems.extend(stderr_tail(err))
    return problems


def diff_lines(expected, actual):
    n = 0
    while n < len(expected) and n < len(actual) and expected[n] == actual[n]:
        n += 1
    exp = expected[n] if n < len(expected) else "<end of output>"
    act = actual[n] if n < len(actual) else "<end of output>"
    return [f"stdout differs at line {n + 1} "
            f"(expected {len(expected)} lines, got {len(actual)})",
            f"  expected: {exp!r}",
            f"  actual:   {act!r}"]


# ---------------------------------------------------------------- one file

class Result:
    def __init__(self, path, outcome, problems=(), note=""):
        self.path = path
        self.outcome = outcome    # "pass", "fail", "skip", "nontest"
        self.problems = list(problems)
        self.note = note


def test_file(path, opts):
    spec = parse_spec(path)
    if spec.nontest:
        return Result(path, "nontest")
    if spec.problems:
        return Result(path, "fail", ["bad directives"] + spec.problems)
    if spec.skip is not None:
        return Result(path, "skip", note=spec.skip)
    if opts.stress and spec.no_stress is not None:
        return Result(path, "skip", note="no-stress: " + spec.no_stress)
    if opts.oracle and spec.wk_only is not None:
        return Result(path, "skip", note="wk-only: " + spec.wk_only)

    run = run_program([opts.wk, path], spec.stdin, opts.timeout, opts.env)
    problems = check(spec, run)
    if problems:
        return Result(path, "fail", problems)

    if opts.python and spec.wk_only is None:
        py = run_program([opts.python, path], spec.stdin, opts.timeout, opts.py_env)
        problems = check(spec, py, full=False)
        if problems:
            return Result(path, "fail",
                          ["cpython disagrees with the expectations "
                           "(fix the test or mark it # wk-only:)"] + problems,
                          note="cpython")
    return Result(path, "pass")


# ---------------------------------------------------------------- driver

def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for name in names:
                    if name.endswith(".wk"):
                        files.append(os.path.join(root, name))
        elif os.path.isfile(p):
            files.append(p)
        else:
            print(f"run_scripts.py: no such file or directory: {p}", file=sys.stderr)
            sys.exit(2)
    return sorted(set(files))


def find_program(name):
    if os.sep in name or (os.altsep and os.altsep in name):
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return name
        return None
    return shutil.which(name)


def is_cpython(path):
    base = os.path.basename(path)
    if re.fullmatch(r"python(3(\.\d+)?)?(\.exe)?", base):
        return True
    py = shutil.which("python3")
    return bool(py) and os.path.realpath(py) == os.path.realpath(path)


def main():
    ap = argparse.ArgumentParser(description="Run wk script tests.")
    ap.add_argument("--wk", default="./wk", help="wk binary (default ./wk)")
    ap.add_argument("--stress", action="store_true",
                    help="run with WK_GC_STRESS=1 (default timeout 30 s)")
    ap.add_argument("--no-cpython", action="store_true",
                    help="do not cross-check with python3")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="parallel jobs (default: number of CPUs)")
    ap.add_argument("--timeout", type=float, default=None, metavar="S",
                    help="seconds per file (default 5, 30 with --stress)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print a line per file")
    ap.add_argument("paths", nargs="*", default=None)
    opts = ap.parse_args()

    wk = find_program(opts.wk)
    if wk is None:
        print(f"run_scripts.py: wk binary not found: {opts.wk} "
              f"(build it with 'make', or pass --wk PATH)", file=sys.stderr)
        return 2
    opts.wk = wk
    opts.oracle = is_cpython(wk)
    if opts.timeout is None:
        opts.timeout = STRESS_TIMEOUT if opts.stress else DEFAULT_TIMEOUT

    base_env = dict(os.environ)
    base_env["PYTHONHASHSEED"] = "0"
    base_env["PYTHONIOENCODING"] = "utf-8"
    base_env.pop("WK_GC_STRESS", None)
    opts.py_env = dict(base_env)
    opts.env = dict(base_env)
    if opts.stress:
        opts.env["WK_GC_STRESS"] = "1"
    opts.python = None
    if not opts.no_cpython and not opts.oracle:
        opts.python = shutil.which("python3")

    files = collect(opts.paths or [os.path.join("tests", "scripts")])
    passed = failed = skipped = 0
    jobs = max(1, opts.j)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for r in pool.map(lambda p: test_file(p, opts), files):
            if r.outcome == "nontest":
                continue
            if r.outcome == "pass":
                passed += 1
                if opts.verbose:
                    print(f"PASS {r.path}")
            elif r.outcome == "skip":
                skipped += 1
                if opts.verbose:
                    print(f"SKIP {r.path} ({r.note})")
            else:
                failed += 1
                tag = " [cpython]" if r.note == "cpython" else ""
                print(f"FAIL {r.path}{tag}: {r.problems[0]}")
                for line in r.problems[1:]:
                    print(f"    {line}")
            sys.stdout.flush()

    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
