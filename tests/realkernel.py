"""A real Linux kernel for the tests: Debian's, booted under QEMU (TCG) on a q35 machine with
an emulated intel-iommu, real IOMMU groups and a real vfio-pci. The kernel package is
downloaded and unpacked (never installed); a busybox initramfs loads the modules, mounts this
machine's root read-only over 9p under a tmpfs overlay, chroots into it and runs a script."""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(TOP, "build", "realkernel")
MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay", "e1000e", "e1000", "nvme", "vfio_pci",
           "vfio_iommu_type1", "xhci_pci", "ftdi_sio"]
# The initramfs is rebuilt when the module list or the init script change.
STAMP = hashlib.sha256(("\n".join(MODULES)).encode()).hexdigest()[:12]

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
    kernel, initrd = os.path.join(CACHE, "vmlinuz"), os.path.join(CACHE, f"initrd-{STAMP}.cpio")
    if os.path.exists(kernel) and os.path.exists(initrd):
        return kernel, initrd
    for tool in ("qemu-system-x86_64", "busybox", "cpio", "depmod"):
        if not shutil.which(tool) and not os.path.exists(f"/sbin/{tool}"):
            raise Unavailable(f"{tool} is missing")
    os.makedirs(CACHE, exist_ok=True)
    work = os.path.join(CACHE, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    debs = [f for f in os.listdir(CACHE) if f.endswith(".deb")]
    if not debs:  # fetched once, kept under build/realkernel
        package = _kernel_package()
        subprocess.run(["apt-get", "download", "-q", package], cwd=CACHE, check=True, capture_output=True)
        debs = [f for f in os.listdir(CACHE) if f.endswith(".deb")]
    unpacked = os.path.join(work, "pkg")
    subprocess.run(["dpkg", "-x", os.path.join(CACHE, debs[0]), unpacked], check=True)
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


class Qmp:
    """The outer QEMU's monitor, for what the test does to the guest's hardware (USB plugs)."""
    def __init__(self, path, deadline=30):
        end = time.monotonic() + deadline
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rw")
        self.file.readline()
        self.command("qmp_capabilities")

    def command(self, name, **args):
        self.file.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply or "error" in reply:
                if "error" in reply:
                    raise AssertionError(f"outer QMP {name}: {reply['error']}")
                return reply["return"]


QBOOT = "/usr/share/qemu/qboot.rom"


def run(script, devices=(), memory=1024, events=None, timeout=240, intremap=True, smp=1, bios=QBOOT):
    """Boots the kernel with the given extra QEMU arguments, runs the script (a path on this
    machine) in the guest as root, and returns what the guest printed between the start and
    exit markers, with the exit code. events maps a line the guest prints ("=== want X") to a
    function called with the outer QEMU's monitor (a Qmp) when it appears. bios None: QEMU's
    SeaBIOS (qboot enumerates no bus behind a pxb-pcie expander)."""
    kernel, initrd = prepare()
    qmp_path = os.path.join(CACHE, f"qmp-{os.getpid()}.sock")
    cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg" + (",kernel-irqchip=split" if intremap else ""),
           "-device", "intel-iommu,intremap=%s,caching-mode=on" % ("on" if intremap else "off"),
           "-m", str(memory), "-smp", str(smp),
           "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
           *(["-bios", bios] if bios else []),
           "-kernel", kernel, "-initrd", initrd,
           # usbcore.autosuspend=-1: a suspended root hub of QEMU's xHCI misses hotplugs;
           # no_timer_check: under TCG on a loaded machine the kernel's early check of the timer
           # through the interrupt-remapped IO-APIC can miss and panic (seen in CI once)
           "-append", f"console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet usbcore.autosuspend=-1 "
                      f"no_timer_check ptscript={script}",
           "-fsdev", "local,id=host,path=/,security_model=none,readonly=on",
           "-device", "virtio-9p-pci,fsdev=host,mount_tag=host",
           "-qmp", f"unix:{qmp_path},server=on,wait=off", *devices]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, qmp = [], None
    watchdog = threading.Timer(timeout, p.kill)
    watchdog.start()
    try:
        for line in p.stdout:
            out.append(line)
            key = line.strip()
            if events and key in events:
                qmp = qmp or Qmp(qmp_path)
                events[key](qmp)
        p.wait(timeout=30)
    finally:
        watchdog.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
        if os.path.exists(qmp_path):
            os.unlink(qmp_path)
    text = "".join(out)
    m = re.search(r"=== libpt guest start\r?\n(.*)=== libpt guest exit (\d+)", text, re.S)
    if not m:
        raise AssertionError(f"the guest did not run the script (qemu exit {p.returncode}):\n"
                             f"{text[-4000:]}\n{p.stderr.read()[-2000:]}")
    return m.group(1).replace("\r", ""), int(m.group(2))


def sections(out):
    """The guest's output by scenario: "=== scenario NAME" starts one; its KEY=VALUE lines
    become a dict (a key given twice keeps the last), the rest its text."""
    found, name = {}, None
    for line in out.splitlines():
        if line.startswith("=== scenario "):
            name = line.split(None, 2)[2]
            found[name] = {"text": ""}
            continue
        if name is None:
            continue
        k, eq, v = line.partition("=")
        if eq and k and " " not in k and "/" not in k:
            found[name][k] = v
        found[name]["text"] += line + "\n"
    return found
