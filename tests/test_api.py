"""The C API, compiled against the built library and run under valgrind."""
import os

from harness import CC_SAN, TOP, build_listing, run, test


@test(timeout=120)
def c_api_under_valgrind(tmp):
    exe = os.path.join(tmp, "test-api")
    run(["cc", *CC_SAN, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-I", f"{TOP}/include",
         "-o", exe, f"{TOP}/tests/test-api.c", "-L", TOP, "-lpt", f"-Wl,-rpath,{TOP}"], check=0)
    root = build_listing("01-intel-z370-coffeelake-gt1030.txt", os.path.join(tmp, "root"))
    os.makedirs(os.path.join(tmp, "plain"))
    run([exe, root, os.path.join(tmp, "plain")], valgrind=True, check=0)


@test(timeout=300)
def ptlua_report_under_valgrind(tmp):
    """The interpreter, binding and library together, on the largest listing: no leak, no error."""
    root = build_listing("17-dual-xeon-e5-c602-aspeed-3gpu.txt", os.path.join(tmp, "root"))
    for args in (["--json"], [], ["--device", "0000:04:00.0"]):
        run([f"{TOP}/lua/ptlua", "--root", root, "scripts/report.lua", *args],
            valgrind=True, check=0, cwd=TOP)
