"""The fuzz targets (tests/fuzz, `make fuzz` runs them under libFuzzer) replayed over their seed
corpora and every regression input (a crash libFuzzer once found, kept in
tests/fuzz/regressions/TARGET/), built with the project's compiler: what once crashed stays
fixed."""
import glob
import os
import subprocess

from harness import TOP, run, test

TARGETS = ("strings", "files", "lua", "qmp")


def libs():
    out = subprocess.run(["pkg-config", "--libs", "lua5.4", "libpci", "libkmod", "libudev", "jansson", "mount"],
                         capture_output=True, text=True, check=True).stdout.split()
    cflags = subprocess.run(["pkg-config", "--cflags", "lua5.4", "mount"], capture_output=True, text=True,
                            check=True).stdout.split()
    return cflags, out


@test(timeout=240)
def fuzz_regressions_replayed(tmp):
    cflags, ldlibs = libs()
    san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    for t in TARGETS:
        exe = os.path.join(tmp, f"replay-{t}")
        run(["cc", "-std=gnu11", "-g", "-O1", "-D_GNU_SOURCE", f"-DFUZZ_LUA_PATH=\"{TOP}/lua/?.lua\"",
             "-I", f"{TOP}/include", *cflags, *san, "-o", exe, f"{TOP}/tests/fuzz/fuzz_{t}.c",
             f"{TOP}/tests/fuzz/replay.c", *sorted(glob.glob(f"{TOP}/libpt/*/*.c")), "-I", f"{TOP}/libpt",
             *sorted(f for f in glob.glob(f"{TOP}/lua/*.c") if not f.endswith("ptlua.c")),
             f"-DPT_LUADIR=\"{TOP}/lua\"", *ldlibs, "-lm", "-ldl"], check=0)
        inputs = sorted(f for d in ("corpus", "regressions") for f in glob.glob(f"{TOP}/tests/fuzz/{d}/{t}/*"))
        p = run([exe, *inputs], check=0, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
        print(f"{t}: {p.stdout.strip()}")
