"""A user's clone stands alone: cloned into an empty folder, `make demo` shows both reports."""
import os

from harness import TOP, Skip, contains, run, test


@test(timeout=600, last=True)
def clone_runs_demo(tmp):
    if not os.path.isdir(os.path.join(TOP, ".git")):
        raise Skip("not a git checkout")
    clone = os.path.join(tmp, "empty", "libpt")
    os.makedirs(os.path.dirname(clone))
    run(["git", "clone", "-q", TOP, clone], check=0)
    p = run(["make", "-s", "-C", clone, "demo"], check=0)
    contains(p.stdout, "== This host ==", "the host's report")
    contains(p.stdout, "== A sample host: 01-intel-z370-coffeelake-gt1030.txt", "the sample host")
    contains(p.stdout, "01:00.0", "the sample host's GPU")
