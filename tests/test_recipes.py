"""The bundled recipes on fixture hosts: output, dry runs, refusals, and gpu-audio as a Proxmox
hookscript against the kernel emulator."""
import os
import time
import shutil

from harness import (TOP, build_spec, contains, eq, kemu_env, ptlua, ptlua_emu, run, snapshot, test,
                     tree_diff, PTLUA)

HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root driver=pcieport
0000:01:00.0 10de:1e84 030000 group=2 driver=nouveau boot_vga=0
0000:01:00.1 10de:10f8 040300 group=2 driver=snd_hda_intel
0000:01:00.2 10de:1ad8 0c0330 group=2 driver=xhci_hcd
0000:01:00.3 10de:1ad9 0c8000 group=2 driver=nvidia-gpu
0000:00:17.0 8086:a282 010601 group=3 driver=ahci
0000:00:1c.0 8086:a290 060400 group=4 pcie=root driver=pcieport
0000:02:00.0 1000:0097 010700 group=5 driver=mpt3sas parent=0000:00:1c.0
0000:00:1d.0 8086:a298 060400 group=6 pcie=root driver=pcieport
0000:03:00.0 8086:1521 020000 group=7 driver=igb parent=0000:00:1d.0 totalvfs=7
0000:03:10.0 8086:1520 020000 group=8 driver=igbvf parent=0000:00:1d.0 physfn=0000:03:00.0
0000:03:10.4 8086:1520 020000 group=9 driver=vfio-pci parent=0000:00:1d.0 physfn=0000:03:00.0
0000:00:1f.6 8086:15b8 020000 group=10 driver=e1000e
block sda 0000:00:17.0 8:0
block sda2 0000:00:17.0 8:2 part-of=sda
block sdb 0000:02:00.0 8:16
block sdc 0000:02:00.0 8:32
mount / 8:2 ext4 /dev/sda2
net eno1 0000:00:1f.6
net vmbr0 virtual lower=eno1
route4 vmbr0
driver vfio-pci
"""


def host(tmp, spec=HOST):
    root = build_spec(spec, os.path.join(tmp, "root"))
    byid = os.path.join(root, "dev/disk/by-id")
    os.makedirs(byid)
    for name, disk in (("ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1", "sda"), ("scsi-35000c500a1b2c3d4", "sdb"),
                       ("wwn-0x5000c500a1b2c3d4", "sdb"), ("scsi-35000c500deadbeef", "sdc"),
                       ("scsi-35000c500deadbeef-part1", "sdc1")):
        os.symlink(f"../../{disk}", os.path.join(byid, name))
    os.makedirs(os.path.join(root, "sys/block"))
    for disk, path in (("sda", "pci0000:00/0000:00:17.0"), ("sdb", "pci0000:00/0000:00:1c.0/0000:02:00.0"),
                       ("sdc", "pci0000:00/0000:00:1c.0/0000:02:00.0")):
        os.symlink(f"../devices/{path}/host0/target0:0:0/0:0:0:0/block/{disk}", os.path.join(root, "sys/block", disk))
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    return root


@test()
def recipe_gpu_audio(tmp):
    root = host(tmp)
    out = ptlua(["scripts/gpu-audio.lua", "--vm", "100", "--dry-run"], root=root).stdout.splitlines()
    eq([l for l in out if "write 'vfio-pci'" in l], [
        f"0000:01:00.{f}: write 'vfio-pci' to {root}/sys/bus/pci/devices/0000:01:00.{f}/driver_override"
        for f in range(4)], "the only discrete GPU with its audio, USB-C and UCSI functions")
    out = ptlua(["scripts/gpu-audio.lua", "--vm", "100", "--emit", "proxmox", "--primary"], root=root).stdout
    eq(out.splitlines()[0], "hostpci0: 01:00,pcie=1,x-vga=1", "emit")
    out = ptlua(["scripts/gpu-audio.lua", "--emit", "qemu", "--gpu", "01:00.0"], root=root).stdout
    contains(out, "vfio-pci,host=0000:01:00.3,bus=pt-port0,addr=0x0.3", "qemu")
    out = ptlua(["scripts/gpu-audio.lua", "--emit", "mapping", "--mapping", "gpu"], root=root).stdout
    contains(out, "\tmap id=10de:1e84,iommugroup=2,node=localhost,path=0000:01:00,", "mapping: the whole slot")
    contains(out, "# in the VM: hostpciN: mapping=gpu,pcie=1", "mapping: hostpci")
    p = ptlua(["scripts/gpu-audio.lua", "--vm", "100", "--gpu", "00:02.0", "--dry-run"], root=root, check=1)
    contains(p.stderr, "0000:00:02.0: refused: boot VGA device (boot_vga = 1)", "boot vga refused")
    p = ptlua(["scripts/gpu-audio.lua", "--vm", "100", "--gpu", "00:17.0"], root=root, check=1)
    contains(p.stderr, "0000:00:17.0 is a SATA controller, not a GPU", "not a GPU")
    two = host(os.path.join(tmp, "two"), HOST + "0000:04:00.0 1002:67df 030000 group=11 driver=amdgpu boot_vga=0\n")
    p = ptlua(["scripts/gpu-audio.lua", "--vm", "100", "--dry-run"], root=two, check=1)
    contains(p.stderr, "several discrete GPUs (0000:01:00.0, 0000:04:00.0): choose one with --gpu", "ambiguous")


@test(timeout=120)
def recipe_gpu_audio_hookscript(tmp):
    """Copied into a snippets storage, gpu-audio is the VM's hookscript: it reads the GPU from the
    VM's hostpci line, binds at pre-start, does nothing at post-start, gives back at post-stop."""
    root = host(tmp)
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("hookscript: local:snippets/gpu-audio.lua\nhostpci0: 01:00,pcie=1,x-vga=1\nmachine: q35\n")
    snippets = os.path.join(tmp, "snippets")
    os.makedirs(snippets)
    snippet = shutil.copy(os.path.join(TOP, "scripts/gpu-audio.lua"), snippets)
    before = snapshot(root)
    env = kemu_env(root)
    p = run([PTLUA, "--root", root, snippet, "100", "pre-start"], env=env, cwd=snippets, check=0)
    contains(p.stderr, "libpt[100]: vm 100 holds 0000:01:00.0 0000:01:00.1 0000:01:00.2 0000:01:00.3",
             "pre-start binds, says so on stderr with the VM id")
    eq(p.stdout, "", "nothing on stdout")
    link = os.readlink(os.path.join(root, "sys/bus/pci/devices/0000:01:00.3/driver"))
    eq(os.path.basename(link), "vfio-pci", "bound")
    p = run([PTLUA, "--root", root, snippet, "100", "post-start"], env=env, cwd=snippets, check=0)
    eq((p.stdout, p.stderr), ("", ""), "a phase it does not handle is a no-op")
    p = run([PTLUA, "--root", root, snippet, "100", "post-stop"], env=env, cwd=snippets, check=0)
    contains(p.stderr, "libpt[100]: gave back 0000:01:00.0 0000:01:00.1 0000:01:00.2 0000:01:00.3", "post-stop")
    assert not tree_diff(before, snapshot(root)), tree_diff(before, snapshot(root))
    # a failing pre-start exits non-zero: Proxmox then does not start the VM
    with open(os.path.join(root, "etc/pve/qemu-server/101.conf"), "w") as f:
        f.write("hostpci0: 00:17.0\n")
    p = run([PTLUA, "--root", root, snippet, "101", "pre-start"], env=env, cwd=snippets, check=1)
    contains(p.stderr, "libpt[101]: pre-start refused: hostpci0: 0000:00:17.0: refused: controller of /",
             "the guard first: nothing of the VM's is bound")


@test()
def recipe_hba_truenas(tmp):
    root = host(tmp)
    out = ptlua(["scripts/hba-truenas.lua", "--device", "02:00.0", "--vm", "200", "--dry-run"], root=root).stdout
    contains(out, "0000:02:00.0 gives away sdb: scsi-35000c500a1b2c3d4, wwn-0x5000c500a1b2c3d4\n"
                  "0000:02:00.0 gives away sdc: scsi-35000c500deadbeef\n", "disks by id")
    contains(out, f"0000:02:00.0: write 'vfio-pci' to {root}/sys/bus/pci/devices/0000:02:00.0/driver_override",
             "dry run")
    p = ptlua(["scripts/hba-truenas.lua", "--device", "00:17.0", "--vm", "200", "--dry-run"], root=root, check=1)
    contains(p.stdout, "0000:00:17.0 gives away sda: ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1", "listed first")
    contains(p.stderr, "0000:00:17.0: refused: controller of / (/dev/sda2)", "root controller refused")
    p = ptlua(["scripts/hba-truenas.lua", "--device", "03:00.0", "--vm", "200"], root=root, check=1)
    contains(p.stderr, "0000:03:00.0 is a Ethernet controller, not a storage controller", "not storage")


@test()
def recipe_nic(tmp):
    root = host(tmp)
    p = ptlua(["scripts/nic.lua", "--device", "00:1f.6", "--vm", "300", "--dry-run"], root=root, check=1)
    contains(p.stderr, "0000:00:1f.6: refused: NIC of the default route (vmbr0 -> eno1)", "management NIC")
    out = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vf", "--vm", "300", "--dry-run"], root=root).stdout
    contains(out, "0000:03:10.0: write 'vfio-pci' to", "the first free VF")
    out = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "4", "--dry-run"], root=root).stdout
    eq(out, "0000:03:00.0: write '0' then '4' to /sys/bus/pci/devices/0000:03:00.0/sriov_numvfs\n", "vfs dry run")
    numvfs = os.path.join(root, "sys/bus/pci/devices/0000:03:00.0/sriov_numvfs")
    open(numvfs, "w").close()
    # the fixture's PF has two VFs: asked for two, they are there at once; for four, the kernel
    # (not emulated here) never makes the other two, and the bounded wait says so
    contains(ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "2"], root=root).stdout,
             "0000:03:00.0: 2 virtual functions (there after ", "vfs")
    eq(open(numvfs).read(), "2", "written")
    start = time.monotonic()
    p = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "4", "--wait-ms", "300"], root=root, check=1)
    contains(p.stderr, "0000:03:00.0: 2 of 4 virtual functions after ", "the wait, bounded and reported")
    eq(0.3 <= time.monotonic() - start < 5, True, "it waited its time, not more")
    # with their driver: autoprobe off while they are made, each VF's override and probe, then
    # autoprobe back (new VFs come without a driver when autoprobe is off: the fixture's lose theirs)
    autoprobe = os.path.join(root, "sys/bus/pci/devices/0000:03:00.0/sriov_drivers_autoprobe")
    with open(autoprobe, "w") as f:
        f.write("1\n")
    for vf in ("0000:03:10.0", "0000:03:10.4"):
        link = os.path.join(root, "sys/bus/pci/devices", vf, "driver")
        drv = os.path.realpath(link)
        os.unlink(link)
        os.unlink(os.path.join(drv, vf))
    out = ptlua_emu(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "2", "--vf-driver", "vfio-pci"], root).stdout
    contains(out, "0000:03:00.0: 2 virtual functions (there after ", "made")
    contains(out, ", each on vfio-pci", "with their driver")
    eq([os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices", vf, "driver")))
        for vf in ("0000:03:10.0", "0000:03:10.4")], ["vfio-pci", "vfio-pci"], "both VFs on vfio-pci")
    eq(open(autoprobe).read(), "1", "autoprobe back as it was")
    p = ptlua_emu(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "2", "--vf-driver", "vfio-pci"], root, check=1,
                  faults="override@0000:03:10.4=EIO")
    contains(p.stderr, f"0000:03:10.4: write 'vfio-pci' to {root}/sys/bus/pci/devices/0000:03:10.4/driver_override: "
             "Input/output error; the VF count put back to 2", "a failure named, half done undone")
    eq((open(numvfs).read(), open(autoprobe).read()), ("2", "1"), "the count and autoprobe as they were")
    p = ptlua_emu(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "2", "--vf-driver", "x/../y"], root, check=1)
    contains(p.stderr, 'VF driver "x/../y" is not a driver name', "a driver name checked")
    eq(open(autoprobe).read(), "1", "nothing written for it")
    plan = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "4", "--persist", "--vf-driver", "vfio-pci"],
                 root=root).stdout
    contains(plan, "+VFS=4\n+WAIT_MS=60000\n+VF_DRIVER_ARGS=--vf-driver vfio-pci", "the boot-time plan gives them their driver")
    plan = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "4", "--persist"], root=root).stdout
    contains(plan, "+VFS=4\n+WAIT_MS=60000", "the boot-time plan")
    contains(plan, "# to apply: --apply, then run: systemctl enable libpt-sriov@0000:03:00.0.service", "the unit")
    ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "4", "--persist", "--apply"], root=root)
    with open(os.path.join(root, "etc/libpt/sriov-0000:03:00.0.conf")) as f:
        contains(f.read(), "VFS=4\nWAIT_MS=60000\n", "written for the unit")
    contains(ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "4", "--persist"], root=root).stdout,
             "# the host is already set up for 4 VFs on 0000:03:00.0", "a second time: nothing to do")
    p = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vfs", "9"], root=root, check=1)
    contains(p.stderr, "0000:03:00.0: 9 virtual functions asked, at most 7", "too many")
    out = ptlua(["scripts/nic.lua", "--device", "03:00.0", "--vm", "300", "--emit", "qm"], root=root).stdout
    eq(out, "qm set 300 --hostpci0 03:00,pcie=1 --machine q35\n", "emit qm: the whole slot")


@test()
def recipe_persist(tmp):
    root = host(tmp)
    out = ptlua(["scripts/persist.lua", "--device", "01:00.0"], root=root).stdout
    contains(out, "+softdep nouveau pre: vfio-pci\n+softdep snd_hda_intel pre: vfio-pci\n"
                  "+softdep xhci_hcd pre: vfio-pci\n+softdep nvidia-gpu pre: vfio-pci\n"
                  "+options vfio-pci ids=10de:1e84,10de:10f8,10de:1ad8,10de:1ad9", "modprobe.d")
    contains(out, "# to apply: --apply", "diff only")


@test(timeout=60)
def recipe_gpu_audio_one_transaction(tmp):
    """The GPU's audio in a group of its own goes in the same transaction: a failure on it gives
    the GPU back too, and leaves the VM's other devices alone."""
    spec = HOST.replace("0000:01:00.1 10de:10f8 040300 group=2", "0000:01:00.1 10de:10f8 040300 group=12") + \
        "0000:05:00.0 8086:1533 020000 group=13 driver=igb\n"
    root = host(tmp, spec)
    ptlua_emu(["scripts/bind.lua", "--device", "05:00.0", "--vm", "100"], root)
    before = snapshot(root)
    p = ptlua_emu(["scripts/gpu-audio.lua", "--vm", "100"], root, check=1, faults="unbind@0000:01:00.1=EBUSY")
    contains(p.stderr, "0000:01:00.1: unbind snd_hda_intel", "the failing step")
    assert not tree_diff(before, snapshot(root)), tree_diff(before, snapshot(root))
    eq(os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices/0000:05:00.0/driver"))), "vfio-pci",
       "the VM's NIC stays bound")
    out = ptlua_emu(["scripts/gpu-audio.lua", "--vm", "100"], root).stdout
    eq(out, "vm 100 holds 0000:01:00.0 0000:01:00.1 0000:01:00.2 0000:01:00.3\n", "all in one, in address order")
