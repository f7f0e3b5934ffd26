#!/usr/bin/env python3
"""libpt's test runner: each test is declared once (tests/test_*.py, @test), runs in a
forked child with a timeout, and the last line is `N passed, N failed`.

  run.py              run every test
  run.py -j N ...     run N tests at a time (make check: one a CPU)
  run.py --list       list the tests
  run.py NAME...      run the tests whose name is or starts with NAME
  run.py --tier T     only the tier T's: "host" (this machine) or "kernel" (a real kernel under QEMU)
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


class Running:
    """A test's child: its pipe, what it printed so far, its deadline."""

    def __init__(self, t):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child(t, w)
        os.close(w)
        os.set_blocking(r, False)
        self.t, self.pid, self.fd, self.output = t, pid, r, b""
        self.start = time.monotonic()
        self.deadline = self.start + t.timeout

    def drain(self):
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return
                self.output += chunk
        except BlockingIOError:
            pass

    def poll(self):
        """None while it runs; then its exit code, or "timeout" (its process group killed)."""
        self.drain()
        done, st = os.waitpid(self.pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
        elif time.monotonic() > self.deadline:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            status = "timeout"
        else:
            return None
        self.drain()
        os.close(self.fd)
        return status


def report(r, status, verbose, counts):
    t, took, output = r.t, time.monotonic() - r.start, r.output.decode(errors="replace")
    if status == 0:
        counts["passed"] += 1
        print(f"PASS {t.name} ({took:.1f}s)")
        if verbose:
            for line in output.rstrip().splitlines():
                print("    " + line)
    elif status == 77:
        counts["skipped"] += 1
        print(f"SKIP {t.name}: {output.strip().splitlines()[-1] if output.strip() else ''}")
    else:
        counts["failed"] += 1
        why = "timed out after %ds" % t.timeout if status == "timeout" else f"exit {status}"
        print(f"FAIL {t.name} ({why})")
        for line in output.rstrip().splitlines()[-40:]:
            print("    " + line)
    sys.stdout.flush()


def run_all(tests, jobs, verbose):
    """Up to `jobs` tests at once (each in its own child and temporary directory); a test
    declared `alone` (it installs packages, or times a peer) runs with no other, after the
    others, and `last` ones at the very end. Results print as tests end."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    waiting = list(tests)
    running = []
    while waiting or running:
        while waiting and len(running) < jobs:
            t = waiting[0]
            if running and (t.alone or t.last or any(r.t.alone or r.t.last for r in running)):
                break
            running.append(Running(waiting.pop(0)))
        for r in list(running):
            status = r.poll()
            if status is not None:
                running.remove(r)
                report(r, status, verbose, counts)
        time.sleep(0.01)
    return counts


def main(argv):
    for m in MODULES:
        importlib.import_module(m)
    tests = sorted(harness.TESTS, key=lambda t: (t.last, t.alone))
    args = argv[1:]
    verbose = "-v" in args
    jobs = 1
    tier = None
    rest = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-v":
            pass
        elif a == "-j" and i + 1 < len(args):
            jobs = int(args[i + 1])
            i += 1
        elif a.startswith("-j") and a[2:].isdigit():
            jobs = int(a[2:])
        elif a == "--tier" and i + 1 < len(args) and args[i + 1] in harness.TIERS:
            tier = args[i + 1]
            i += 1
        else:
            rest.append(a)
        i += 1
    if tier:
        tests = [t for t in tests if t.tier == tier]
    if rest[:1] == ["--list"]:
        for t in tests:
            print(t.name)
        return 0
    if rest:
        tests = [t for t in tests if any(t.name == a or t.name.startswith(a) for a in rest)]
        if not tests:
            print(f"no test matches {' '.join(rest)}")
            print("0 passed, 1 failed")
            return 1
    start = time.monotonic()
    counts = run_all(tests, max(1, jobs), verbose)
    print(f"{len(tests)} tests in {time.monotonic() - start:.0f} s, {max(1, jobs)} at a time")
    if os.environ.get("PT_CHECK_START"):
        print(f"make check: {time.time() - float(os.environ['PT_CHECK_START']):.0f} s, the build included")
    line = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    print(line)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
