"""What a VM holds besides its devices' drivers (libpt/actions/hold.c): an mdev created for it, a
VF's vGPU type, the host's console for its only GPU (scripts/single-gpu.lua). Each journaled
before it is made and given back by the VM's restore, newest first, also after a crash. On
fixture trees, the kernel emulator giving `create`, `remove` and the platform drivers' bind and
unbind their meaning; a stand-in systemctl that notes what it is asked."""
import glob
import os
import shutil

from harness import PTLUA, TOP, build_spec, contains, eq, kemu_env, ptlua_emu, run, test
from test_vgpu import UUID, host as vgpu_host, write

NEW = "0b4d1b3a-8e0e-4c1d-9b1e-2f3a4b5c6d7e"


def read(path):
    with open(path) as f:
        return f.read()


def holds(root):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(root, "run/libpt/hold-*")))


def mdev_host(tmp):
    root = vgpu_host(tmp)
    gpu = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:00:02.0"))
    for t in ("i915-GVTg_V5_4", "i915-GVTg_V5_8"):
        write(os.path.join(gpu, "mdev_supported_types", t, "create"), "")
    os.makedirs(os.path.join(root, "sys/bus/mdev/devices"))
    os.symlink(os.path.join(gpu, UUID), os.path.join(root, "sys/bus/mdev/devices", UUID))
    return root, gpu


@test()
def hold_mdev_created_and_given_back(tmp):
    root, gpu = mdev_host(tmp)
    args = ["scripts/vgpu.lua", "--device", "0000:00:02.0", "--type", "i915-GVTg_V5_4", "--vm", "100", "--create",
            "--uuid", NEW]
    out = ptlua_emu(args + ["--dry-run"], root).stdout
    contains(out, f"write '{NEW}' to {root}/sys/bus/pci/devices/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4/create",
             "the dry run says the write")
    eq((holds(root), os.path.exists(os.path.join(gpu, NEW))), ([], False), "and makes none")
    out = ptlua_emu(args, root).stdout
    contains(out, f"mdev {NEW} (i915-GVTg_V5_4) on 0000:00:02.0 for vm 100", "created")
    eq(os.path.islink(os.path.join(root, "sys/bus/mdev/devices", NEW)), True, "the mdev is there")
    eq(read(os.path.join(gpu, "mdev_supported_types/i915-GVTg_V5_4/available_instances")), "1\n", "one instance fewer")
    eq(len(holds(root)), 1, "journaled")
    contains(read(os.path.join(root, "run/libpt", holds(root)[0])), f"kind=mdev\nkey={NEW}\n", "what it holds")
    p = ptlua_emu(args, root, check=1)
    contains(p.stderr, f"mdev {NEW} exists already", "a UUID in use refused")
    p = ptlua_emu(args[:4] + ["i915-GVTg_V5_8"] + args[5:], root, check=1)
    contains(p.stderr, "mdev type i915-GVTg_V5_8 has no instance left", "a type with none left refused")
    eq(len(holds(root)), 1, "a refusal journals nothing")
    out = ptlua_emu(["scripts/restore.lua", "--vm", "100", "--dry-run"], root).stdout
    contains(out, f"write '1' to {root}/sys/bus/mdev/devices/{NEW}/remove", "restore's plan removes it")
    out = ptlua_emu(["scripts/restore.lua", "--vm", "100"], root).stdout
    contains(out, "vm 100 gave back 1 hold", "restore gives it back")
    eq((os.path.exists(os.path.join(gpu, NEW)), holds(root)), (False, []), "the mdev and its journal gone")
    eq(read(os.path.join(gpu, "mdev_supported_types/i915-GVTg_V5_4/available_instances")), "2\n", "the instance back")
    eq(os.path.isdir(os.path.join(gpu, UUID)), True, "another mdev untouched")


@test()
def hold_vgpu_type_set_and_given_back(tmp):
    root = vgpu_host(tmp)
    vf = os.path.join(root, "sys/bus/pci/devices/0000:01:00.5/nvidia/current_vgpu_type")
    p = ptlua_emu(["scripts/vgpu.lua", "--device", "0000:01:00.5", "--vgpu-type", "999", "--vm", "101"], root, check=1)
    contains(p.stderr, "type 999 is not among the types it can create now", "a type it cannot create refused")
    out = ptlua_emu(["scripts/vgpu.lua", "--device", "0000:01:00.5", "--vgpu-type", "558", "--vm", "101"], root).stdout
    contains(out, f"write '558' to {root}/sys/bus/pci/devices/0000:01:00.5/nvidia/current_vgpu_type", "set")
    eq(read(vf).strip(), "558", "the VF has the type")
    p = ptlua_emu(["scripts/vgpu.lua", "--device", "0000:01:00.4", "--vgpu-type", "558", "--vm", "101"], root, check=1)
    contains(p.stderr, "0000:01:00.4: has vGPU type 557 already", "a VF with another type refused")
    ptlua_emu(["scripts/restore.lua", "--vm", "100"], root)
    eq(read(vf).strip(), "558", "another VM's restore leaves it")
    out = ptlua_emu(["scripts/restore.lua", "--vm", "101"], root).stdout
    contains(out, "vm 101 gave back 1 hold", "the VM's restore")
    eq((read(vf).strip(), holds(root)), ("0", []), "back to no type")


CONSOLE_SPEC = """
0000:00:01.0 8086:1901 060400 group=1 driver=pcieport
0000:01:00.0 10de:1b80 030000 group=2 driver=nouveau parent=0000:00:01.0 boot_vga=1
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel parent=0000:00:01.0
driver vfio-pci
fb fb0 0000:01:00.0
fbcon
"""


def console_host(tmp, dm_running=True):
    """A desktop with one GPU: fbcon on vtcon1, efifb on the GPU's memory, a display manager."""
    root = build_spec(CONSOLE_SPEC, os.path.join(tmp, "root"))
    sys_ = os.path.join(root, "sys")
    write(os.path.join(sys_, "devices/virtual/vtconsole/vtcon0/bind"), "0\n")  # the dummy console
    os.symlink("../../devices/virtual/vtconsole/vtcon0", os.path.join(sys_, "class/vtconsole/vtcon0"))
    fb = os.path.join(sys_, "devices/platform/efi-framebuffer.0")
    drv = os.path.join(sys_, "bus/platform/drivers/efi-framebuffer")
    for f in ("bind", "unbind"):
        write(os.path.join(drv, f), "")
    os.makedirs(fb)
    os.makedirs(os.path.join(sys_, "bus/platform/devices"))
    os.symlink("../../../devices/platform/efi-framebuffer.0", os.path.join(sys_, "bus/platform/devices/efi-framebuffer.0"))
    os.symlink("../../../../devices/platform/efi-framebuffer.0", os.path.join(drv, "efi-framebuffer.0"))
    os.symlink("../../bus/platform/drivers/efi-framebuffer", os.path.join(fb, "driver"))
    log, state = os.path.join(tmp, "systemctl.log"), os.path.join(tmp, "dm.state")
    write(state, "active\n" if dm_running else "inactive\n")
    systemctl = os.path.join(tmp, "systemctl")
    write(systemctl, "#!/bin/sh\n"
          f"echo \"$@\" >> {log}\n"
          f"case \"$1\" in is-active) grep -qx active {state};; stop) echo inactive > {state};;"
          f" start) echo active > {state};; esac\n")
    os.chmod(systemctl, 0o755)
    return root, systemctl, log, state


def console_state(root, state):
    sys_ = os.path.join(root, "sys")
    driver = os.path.join(sys_, "bus/pci/devices/0000:01:00.0/driver")
    return {"dm": read(state).strip(), "vtcon1": read(os.path.join(sys_, "class/vtconsole/vtcon1/bind")).strip(),
            "vtcon0": read(os.path.join(sys_, "class/vtconsole/vtcon0/bind")).strip(),
            "efifb": os.path.islink(os.path.join(sys_, "devices/platform/efi-framebuffer.0/driver")),
            "gpu": os.path.basename(os.readlink(driver)) if os.path.islink(driver) else None}


HOST_HAS_IT = {"dm": "active", "vtcon1": "1", "vtcon0": "0", "efifb": True, "gpu": "nouveau"}
VM_HAS_IT = {"dm": "inactive", "vtcon1": "0", "vtcon0": "0", "efifb": False, "gpu": "vfio-pci"}


@test()
def single_gpu_hands_the_console_over_and_back(tmp):
    root, systemctl, log, state = console_host(tmp)
    sg = ["--systemctl", systemctl, "scripts/single-gpu.lua", "--vm", "100"]
    p = ptlua_emu(sg, root, check=1)
    contains(p.stderr, "0000:01:00.0 draws the host's console: the host has no screen while VM 100 runs; "
             "--host-loses-console hands the console over", "refused without the acknowledgement")
    p = ptlua_emu(["scripts/gpu-audio.lua", "--vm", "100"], root, check=1)
    contains(p.stderr, "draws the framebuffer console (fb0)", "the guard still refuses the console's GPU elsewhere")
    eq(console_state(root, state), HOST_HAS_IT, "nothing changed")
    out = ptlua_emu(sg + ["--host-loses-console", "--dry-run"], root).stdout.splitlines()
    eq([l for l in out if "journal " not in l][:4], [
        "systemctl stop display-manager.service",
        f"write '0' to {root}/sys/class/vtconsole/vtcon1/bind",
        f"write 'efi-framebuffer.0' to {root}/sys/bus/platform/drivers/efi-framebuffer/unbind",
        f"0000:01:00.0: write 'vfio-pci' to {root}/sys/bus/pci/devices/0000:01:00.0/driver_override"],
        "the dry run: the console, then the GPU")
    eq((console_state(root, state), holds(root), os.path.exists(log) and "stop" in read(log)),
       (HOST_HAS_IT, [], False), "the dry run changes nothing")
    out = ptlua_emu(sg + ["--host-loses-console"], root).stdout
    contains(out, "vm 100 holds 0000:01:00.0 0000:01:00.1", "the GPU and its audio bound")
    eq(console_state(root, state), VM_HAS_IT, "the console handed over")
    eq(len(holds(root)), 3, "three holds journaled: the display manager, vtcon1, efifb")
    out = ptlua_emu(sg + ["--give-back"], root).stdout
    contains(out, "vm 100 gave back 0000:01:00.0 0000:01:00.1 and 3 holds (the console)", "post-stop")
    eq((console_state(root, state), holds(root)), (HOST_HAS_IT, []), "all back")
    eq(read(log).splitlines(), ["is-active --quiet display-manager.service",  # the dry run asks too
                                "is-active --quiet display-manager.service", "stop --quiet display-manager.service",
                                "start --quiet display-manager.service"], "systemctl asked in order")


@test()
def single_gpu_crash_recovered_by_restore(tmp):
    """Killed after each write of the hand-over (journals and sysfs), the next restore brings the
    host's console and GPU back every time."""
    died = []
    for k in range(1, 9):
        base = os.path.join(tmp, str(k))
        os.makedirs(base)
        root, systemctl, log, state = console_host(base)
        p = ptlua_emu(["--systemctl", systemctl, "scripts/single-gpu.lua", "--vm", "100", "--host-loses-console"], root,
                      check=None, kill_after=k)
        if p.returncode == -9:
            died.append(console_state(root, state))
        ptlua_emu(["--systemctl", systemctl, "scripts/restore.lua", "--vm", "100"], root)
        eq((console_state(root, state), holds(root)), (HOST_HAS_IT, []), f"killed after write {k} (exit {p.returncode})")
    # the emulated writes: the framebuffer's unbind, then override, unbind and probe of the GPU
    # and of its audio (the journals and the vtconsole are plain files here, not counted)
    eq(len(died), 7, "killed after each of the seven")
    eq(died[0], {"dm": "inactive", "vtcon1": "0", "vtcon0": "0", "efifb": False, "gpu": "nouveau"},
       "the first: the console handed over, the GPU not yet")
    eq(died[-1]["gpu"], "vfio-pci", "the last: the GPU bound too")


@test()
def single_gpu_console_given_back_when_the_gpu_cannot_go(tmp):
    root, systemctl, log, state = console_host(tmp)
    p = ptlua_emu(["--systemctl", systemctl, "scripts/single-gpu.lua", "--vm", "100", "--host-loses-console"], root,
                  check=1, faults="unbind@0000:01:00.1=EBUSY")
    contains(p.stderr, "0000:01:00.1: unbind snd_hda_intel", "the failed step named")
    eq((console_state(root, state), holds(root)), (HOST_HAS_IT, []), "the console back, nothing held")


@test()
def single_gpu_hookscript(tmp):
    """As the VM's hookscript: refused at pre-start until the copy acknowledges the lost console;
    then pre-start hands it over with the GPU of the VM's hostpci line, post-stop gives it back."""
    root, systemctl, log, state = console_host(tmp)
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("hookscript: local:snippets/single-gpu.lua\nhostpci0: 01:00,pcie=1,x-vga=1\nmachine: q35\n")
    snippets = os.path.join(tmp, "snippets")
    os.makedirs(snippets)
    snippet = shutil.copy(os.path.join(TOP, "scripts/single-gpu.lua"), snippets)
    env = kemu_env(root)
    hook = [PTLUA, "--root", root, "--systemctl", systemctl, snippet, "100"]
    p = run(hook + ["pre-start"], env=env, cwd=snippets, check=1)
    contains(p.stderr, "libpt[100]: pre-start refused: hostpci0: 0000:01:00.0: refused: boot VGA device",
             "refused as shipped: the guard, before the recipe")
    eq(console_state(root, state), HOST_HAS_IT, "nothing changed")
    with open(snippet) as f:
        text = f.read()
    acknowledged = text.replace('{ name = "host-loses-console", type = "bool",',
                                '{ name = "host-loses-console", type = "bool", default = true,')
    assert acknowledged != text
    with open(snippet, "w") as f:
        f.write(acknowledged)
    p = run(hook + ["pre-start"], env=env, cwd=snippets, check=0)
    contains(p.stderr, "libpt[100]: vm 100 holds 0000:01:00.0 0000:01:00.1", "pre-start")
    eq(console_state(root, state), VM_HAS_IT, "the console handed over")
    p = run(hook + ["post-stop"], env=env, cwd=snippets, check=0)
    contains(p.stderr, "libpt[100]: vm 100 gave back 0000:01:00.0 0000:01:00.1 and 3 holds", "post-stop")
    eq((console_state(root, state), holds(root)), (HOST_HAS_IT, []), "all back")
