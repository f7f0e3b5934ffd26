"""A recipe's --driver variant reaches the hookscript's pre-start: the VM's GPU goes to its
vfio-pci variant driver at each start (the binding a Proxmox line with driver=keep relies on),
and post-stop gives it back; --driver with --emit, and --place with a bind, are refused."""
import os

from harness import PTLUA, TOP, contains, eq, kemu_env, ptlua, run, test

SPEC = """0000:00:01.0 8086:2030 060400 group=1 pcie=root driver=pcieport
0000:01:00.0 10de:2342 030200 group=2 driver=nvidia parent=0000:00:01.0
variant nvgrace_gpu_vfio_pci 10de:2342
driver vfio-pci
driver nvgrace-gpu-vfio-pci
"""


def gpu_host(tmp):
    root = os.path.join(tmp, "root")
    spec = os.path.join(tmp, "spec")
    with open(spec, "w") as f:
        f.write(SPEC)
    run(["python3", os.path.join(TOP, "tests", "mkfixture.py"), "--spec", spec, root], check=0)
    for d in ("vfio-pci", "nvgrace-gpu-vfio-pci"):
        for f in ("bind", "unbind", "new_id"):
            open(os.path.join(root, "sys/bus/pci/drivers", d, f), "a").close()
    # the loaded module names its driver as the kernel lists it
    os.makedirs(os.path.join(root, "sys/module/nvgrace_gpu_vfio_pci/drivers"))
    os.symlink("../../../bus/pci/drivers/nvgrace-gpu-vfio-pci",
               os.path.join(root, "sys/module/nvgrace_gpu_vfio_pci/drivers/pci:nvgrace-gpu-vfio-pci"))
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("machine: q35\nhostpci0: 01:00,pcie=1,driver=keep\n")
    return root


@test(timeout=120)
def variant_driver_at_each_start_through_the_hookscript(tmp):
    root = gpu_host(tmp)
    snippets = os.path.join(tmp, "snippets")
    os.makedirs(snippets)
    snippet = os.path.join(snippets, "libpt-100.lua")
    with open(snippet, "w") as f:
        f.write('return { recipe = "gpu-audio", vm = 100, args = { "--gpu", "01:00.0", "--driver", "variant" } }\n')
    driver = lambda: os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices/0000:01:00.0/driver")))  # noqa: E731
    run([PTLUA, "--root", root, snippet, "100", "pre-start"], env=kemu_env(root), cwd=snippets, check=0)
    eq(driver(), "nvgrace-gpu-vfio-pci", "pre-start: the variant")
    run([PTLUA, "--root", root, snippet, "100", "post-stop"], env=kemu_env(root), cwd=snippets, check=0)
    eq(driver(), "nvidia", "post-stop: given back")
    # the options that mean nothing on a path are refused there, not ignored
    p = ptlua(["scripts/gpu-audio.lua", "--gpu", "01:00.0", "--emit", "proxmox", "--vm", "100", "--driver", "variant"],
              root=root, check=1)
    contains(p.stderr, "--driver variant goes with a bind", "--driver with --emit")
    p = ptlua(["scripts/gpu-audio.lua", "--gpu", "01:00.0", "--vm", "100", "--place", "--dry-run"], root=root, check=1)
    contains(p.stderr, "--place goes with --emit", "--place with a bind")
