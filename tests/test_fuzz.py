"""The fuzz targets (tests/fuzz, `make fuzz` runs them under libFuzzer) replayed over their seed
corpora and every regression input (a crash libFuzzer once found, kept in
tests/fuzz/regressions/TARGET/), built with the project's compiler: what once crashed stays
fixed."""
import glob
import os

from harness import TOP, run, test

TARGETS = ("strings", "files", "lua", "qmp")


@test(timeout=300)
def fuzz_regressions_replayed(tmp):
    # the replay drivers: make builds the library's objects once for every target (make replay)
    run(["make", "-s", "--no-print-directory", f"-j{os.cpu_count() or 1}", "replay"], check=0, cwd=TOP)
    for t in TARGETS:
        exe = os.path.join(TOP, "build", "replay", f"replay_{t}")
        inputs = sorted(f for d in ("corpus", "regressions") for f in glob.glob(f"{TOP}/tests/fuzz/{d}/{t}/*"))
        p = run([exe, *inputs], check=0, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        print(f"{t}: {p.stdout.strip()}")
