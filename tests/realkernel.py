"""A real Linux kernel for the tests: Debian's, booted under QEMU (TCG) on a q35 machine with
an emulated intel-iommu, real IOMMU groups and a real vfio-pci. The kernel package is
downloaded and unpacked (never installed); a busybox initramfs loads the modules, mounts this
machine's root read-only over 9p under a tmpfs overlay, chroots into it and runs a script."""
import os
import re
import shutil
import subprocess

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(TOP, "build", "realkernel")
MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay", "e1000e", "vfio_pci", "vfio_iommu_type1"]

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do modprobe $m || echo "initramfs: modprobe $m failed"; done
mkdir -p /host /rw /merged
mount -t 9p -o trans=virtio,version=9p2000.L,ro host /host
mount -t tmpfs tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /merged
for d in proc sys dev; do mount --bind /$d /merged/$d; done
mount -t tmpfs tmpfs /merged/run
script=$(sed -n 's/.*ptscript=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
echo "=== libpt guest start"
chroot /merged /bin/sh -c "cd /; PATH=/usr/sbin:/usr/bin:/sbin:/bin sh $script" 2>&1
echo "=== libpt guest exit $?"
poweroff -f
"""


class Unavailable(Exception):
    pass


def _kernel_package():
    for attempt in range(2):
        p = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True)
        m = re.search(r"Depends: (linux-image-[0-9][^\s]*)", p.stdout)
        if m:
            return m.group(1)
        if attempt == 0:  # a fresh machine may not have the package lists yet
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
    raise Unavailable("apt-cache cannot resolve linux-image-amd64")


def prepare():
    """The kernel image and initramfs, built once into build/realkernel."""
    kernel, initrd = os.path.join(CACHE, "vmlinuz"), os.path.join(CACHE, "initrd.cpio")
    if os.path.exists(kernel) and os.path.exists(initrd):
        return kernel, initrd
    for tool in ("qemu-system-x86_64", "busybox", "cpio", "depmod"):
        if not shutil.which(tool) and not os.path.exists(f"/sbin/{tool}"):
            raise Unavailable(f"{tool} is missing")
    os.makedirs(CACHE, exist_ok=True)
    work = os.path.join(CACHE, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    package = _kernel_package()
    subprocess.run(["apt-get", "download", "-q", package], cwd=work, check=True, capture_output=True)
    deb = [f for f in os.listdir(work) if f.endswith(".deb")][0]
    unpacked = os.path.join(work, "pkg")
    subprocess.run(["dpkg", "-x", os.path.join(work, deb), unpacked], check=True)
    release = os.listdir(os.path.join(unpacked, "lib", "modules"))[0]
    subprocess.run(["depmod", "-b", unpacked, release], check=True, capture_output=True)
    deps = {}
    with open(os.path.join(unpacked, "lib", "modules", release, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[os.path.basename(path)[:-3].replace("-", "_")] = (path, rest.split())
    wanted, stack = set(), list(MODULES)
    while stack:
        name = stack.pop()
        path, needs = deps[name]
        if path not in wanted:
            wanted.add(path)
            stack += [os.path.basename(n)[:-3].replace("-", "_") for n in needs]
    root = os.path.join(work, "initramfs")
    for d in ("bin", "proc", "sys", "dev", "etc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(shutil.which("busybox") or "/bin/busybox", os.path.join(root, "bin", "busybox"))
    for path in wanted:
        dest = os.path.join(root, "lib", "modules", release, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(os.path.join(unpacked, "lib", "modules", release, path), dest)
    for extra in ("modules.builtin", "modules.order"):
        shutil.copy(os.path.join(unpacked, "lib", "modules", release, extra),
                    os.path.join(root, "lib", "modules", release, extra))
    subprocess.run(["depmod", "-b", root, release], check=True, capture_output=True)
    with open(os.path.join(root, "modules.list"), "w") as f:
        f.write("\n".join(MODULES) + "\n")
    with open(os.path.join(root, "init"), "w") as f:
        f.write(INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True, check=True).stdout
    with open(initrd + ".tmp", "wb") as out:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                       stdout=out, check=True)
    os.replace(initrd + ".tmp", initrd)
    shutil.copy(os.path.join(unpacked, "boot", f"vmlinuz-{release}"), kernel)
    shutil.rmtree(work)
    return kernel, initrd


def run(script, timeout=240):
    """Boots the kernel, runs the script (a path on this machine) in the guest as root, and
    returns what the guest printed between the start and exit markers, with the exit code."""
    kernel, initrd = prepare()
    cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg,kernel-irqchip=split",
           "-device", "intel-iommu,intremap=on,caching-mode=on", "-m", "1024", "-smp", "1",
           "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
           "-bios", "/usr/share/qemu/qboot.rom",
           "-kernel", kernel, "-initrd", initrd,
           "-append", f"console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet ptscript={script}",
           "-device", "e1000e,netdev=n0", "-netdev", "user,id=n0,restrict=on",
           "-fsdev", "local,id=host,path=/,security_model=none,readonly=on",
           "-device", "virtio-9p-pci,fsdev=host,mount_tag=host"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = p.stdout
    m = re.search(r"=== libpt guest start\r?\n(.*)=== libpt guest exit (\d+)", out, re.S)
    if not m:
        raise AssertionError(f"the guest did not run the script (qemu exit {p.returncode}):\n"
                             f"{out[-4000:]}\n{p.stderr[-2000:]}")
    return m.group(1).replace("\r", ""), int(m.group(2))
