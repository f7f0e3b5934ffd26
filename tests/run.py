#!/usr/bin/env python3
"""libpt's test runner: each test is declared once (tests/test_*.py, @test), runs in a
forked child with a timeout, and the last line is `N passed, N failed`.

  run.py              run every test
  run.py --list       list the tests
  run.py NAME...      run the tests whose name is or starts with NAME
  run.py -v ...       also print what passing tests printed (the real-kernel suite's checks)
"""
import importlib
import os
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MODULES = [m[:-3] for m in sorted(os.listdir(os.path.dirname(os.path.abspath(__file__))))
           if m.startswith("test_") and m.endswith(".py")]


def child(t, out_fd):
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.setpgid(0, 0)
    try:
        with tempfile.TemporaryDirectory(prefix="libpt-test-") as tmp:
            t.func(tmp)
        os._exit(0)
    except harness.Skip as e:
        print(f"skipped: {e}")
        os._exit(77)
    except BaseException:
        traceback.print_exc()
        os._exit(1)


def run_one(t):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        child(t, w)
    os.close(w)
    deadline = time.monotonic() + t.timeout
    output = b""
    os.set_blocking(r, False)
    status = None
    while status is None:
        try:
            chunk = os.read(r, 65536)
            output += chunk
        except BlockingIOError:
            pass
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
        elif time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout"
        else:
            time.sleep(0.01)
    try:
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            output += chunk
    except BlockingIOError:
        pass
    os.close(r)
    return status, output.decode(errors="replace")


def main(argv):
    for m in MODULES:
        importlib.import_module(m)
    tests = sorted(harness.TESTS, key=lambda t: t.last)
    verbose = argv[1:2] == ["-v"]
    if verbose:
        argv = argv[:1] + argv[2:]
    if argv[1:2] == ["--list"]:
        for t in tests:
            print(t.name)
        return 0
    if argv[1:]:
        tests = [t for t in tests if any(t.name == a or t.name.startswith(a) for a in argv[1:])]
        if not tests:
            print(f"no test matches {' '.join(argv[1:])}")
            print("0 passed, 1 failed")
            return 1
    passed = failed = skipped = 0
    for t in tests:
        start = time.monotonic()
        status, output = run_one(t)
        took = time.monotonic() - start
        if status == 0:
            passed += 1
            print(f"PASS {t.name} ({took:.1f}s)")
            if verbose:
                for line in output.rstrip().splitlines():
                    print("    " + line)
        elif status == 77:
            skipped += 1
            print(f"SKIP {t.name}: {output.strip().splitlines()[-1] if output.strip() else ''}")
        else:
            failed += 1
            why = "timed out after %ds" % t.timeout if status == "timeout" else f"exit {status}"
            print(f"FAIL {t.name} ({why})")
            for line in output.rstrip().splitlines()[-40:]:
                print("    " + line)
        sys.stdout.flush()
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
