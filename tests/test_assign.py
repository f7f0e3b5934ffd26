"""The assignment behind every path (libpt/analysis/assign.c): on a realistic homelab host
(tests/homelab.spec) no emitter, recipe --emit or host plan hands a VM a host-critical device
without --force (and --force says so on stderr), lint names a VM config line that does, and a
pre-start of such a VM exits 1 before any write; ids, VM ids and kinds decided by one rule."""
import json
import os
import shutil

from harness import (PTLUA, TOP, build_spec, contains, eq, kemu_env, ptlua, run, snapshot, test,
                     tree_diff)

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "homelab.spec")) as f:
    HOMELAB = f.read()

# each host-critical device of the homelab host, and the reason the guard gives
CRITICAL = {
    "04:00.0": "controller of / (/dev/nvme0n1p2)",
    "05:00.0": "NIC of the default route (vmbr0 -> enp5s0)",
    "06:00.0": "it goes with 0000:05:00.0 (IOMMU group 8), NIC of the default route",
    "00:02.0": "draws the framebuffer console (fb0)",
    "00:14.0": "the only keyboard (Logitech USB Keyboard) hangs under it",
}
FORMATS = ["proxmox", "qm", "libvirt", "libvirt-domain", "qemu", "host", "mapping"]


def homelab(tmp, confs=None, spec=HOMELAB):
    root = build_spec(spec, os.path.join(tmp, "root"))
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc/pve/mapping"), exist_ok=True)
    with open(os.path.join(root, "etc/hostname"), "w") as f:
        f.write("pve1\n")
    for vm, text in (confs or {}).items():
        with open(os.path.join(root, f"etc/pve/qemu-server/{vm}.conf"), "w") as f:
            f.write(text)
    return root


def emit_args(fmt, device):
    extra = {"proxmox": ["--vm", "200"], "qm": ["--vm", "200"], "mapping": ["--mapping", "m1"]}.get(fmt, [])
    return ["scripts/emit.lua", "--format", fmt, "--device", device] + extra


@test()
def assign_every_emitter_refuses_the_host_critical(tmp):
    root = homelab(tmp)
    before = snapshot(root)
    for device, why in CRITICAL.items():
        for fmt in FORMATS:
            p = ptlua(emit_args(fmt, device), root=root, check=1)
            eq(p.stdout, "", f"{fmt} {device}: nothing printed")
            contains(p.stderr, "refused: ", f"{fmt} {device}")
            contains(p.stderr, why, f"{fmt} {device}: the bind's reason")
            contains(p.stderr, "force to take it anyway", f"{fmt} {device}")
    # Proxmox's slot form is the same device
    p = ptlua(emit_args("qm", "04:00"), root=root, check=1)
    contains(p.stderr, "controller of /", "the slot form")
    assert not tree_diff(before, snapshot(root)), "nothing written"


@test()
def assign_force_emits_and_says_so_every_time(tmp):
    root = homelab(tmp)
    for device, why in CRITICAL.items():
        for fmt in FORMATS:
            if fmt == "host":
                continue  # a dry diff: the same path, shown below once
            p = ptlua(emit_args(fmt, device) + ["--force"], root=root, check=0)
            assert p.stdout.strip(), f"{fmt} {device}: emitted"
            contains(p.stderr, "is host-critical", f"{fmt} {device}: said")
            contains(p.stderr, "(forced)", f"{fmt} {device}: said forced")
    p = ptlua(emit_args("qm", "04:00.0") + ["--force"], root=root, check=0)
    eq(p.stdout, "qm set 200 --hostpci0 04:00,pcie=1 --machine q35\n", "the forced line")
    p = ptlua(emit_args("host", "04:00.0") + ["--force"], root=root, check=0)
    contains(p.stdout, "/etc/modprobe.d/libpt-vfio.conf", "the forced host plan")
    contains(p.stderr, "(forced)", "said")
    # a device the host can spare: no word on stderr
    p = ptlua(emit_args("qm", "03:00.0"), root=root, check=0)
    eq((p.stdout, p.stderr), ("qm set 200 --hostpci0 03:00,pcie=1 --machine q35\n", ""), "the HBA")


@test()
def assign_recipes_with_emit_refuse_the_host_critical(tmp):
    root = homelab(tmp)
    cases = [
        (["scripts/gpu-audio.lua", "--gpu", "00:02.0", "--emit", "qm", "--vm", "200"], "draws the framebuffer console"),
        (["scripts/hba-truenas.lua", "--device", "04:00.0", "--emit", "qm", "--vm", "200"], "controller of /"),
        (["scripts/nic.lua", "--device", "05:00.0", "--emit", "proxmox", "--vm", "200"], "NIC of the default route"),
        (["scripts/usb-controller.lua", "--device", "00:14.0", "--emit", "qemu"], "the only keyboard"),
        (["scripts/persist.lua", "--device", "04:00.0"], "controller of /"),
    ]
    for args, why in cases:
        p = ptlua(args, root=root, check=1)
        contains(p.stderr, why, " ".join(args))
        assert "hostpci" not in p.stdout and "vfio-pci" not in p.stdout, p.stdout
        p = ptlua(args + ["--force"], root=root, check=0)
        contains(p.stderr, "(forced)", " ".join(args) + " --force")
    p = ptlua(["scripts/gpu-audio.lua", "--gpu", "01:00.0", "--emit", "qm", "--vm", "200"], root=root, check=0)
    eq(p.stdout, "qm set 200 --hostpci0 01:00,pcie=1 --machine q35 --bios ovmf --efidisk0 "
                 "local-lvm:1,efitype=4m,pre-enrolled-keys=1 --cpu host\n", "a discrete GPU")
    eq(p.stderr, "", "nothing to say")


@test()
def assign_lint_names_lines_that_pass_critical_devices(tmp):
    root = homelab(tmp, confs={
        200: "hostpci0: 04:00,pcie=1\nhostpci1: mapping=lan\nmachine: q35\n",
        201: "hostpci0: 0000:00:14.0\n",
        202: "hostpci0: 01:00,pcie=1\nmachine: q35\n",
    })
    with open(os.path.join(root, "etc/pve/mapping/pci.cfg"), "w") as f:
        f.write("lan\n\tmap id=8086:15f3,node=pve1,path=0000:05:00.0\n\tmap id=8086:15f3,node=pve2,path=0000:09:00.0\n")
    p = ptlua(["scripts/lint.lua", "--json"], root=root, check=1)
    found = [(f["vm"], f["key"], f["code"]) for f in json.loads(p.stdout) if f["code"] == "host-critical"]
    eq(found, [(200, "hostpci0", "host-critical"), (200, "hostpci1", "host-critical"),
               (201, "hostpci0", "host-critical")], "the NVMe, the mapped NIC, the keyboard's controller")
    p = ptlua(["scripts/lint.lua", "--vm", "200"], root=root, check=1)
    contains(p.stdout, "200 hostpci0: 0000:04:00.0: refused: controller of / (/dev/nvme0n1p2); controller of "
                       "/boot/efi (/dev/nvme0n1p1): Proxmox binds it to vfio-pci when the VM starts", "names all")
    contains(p.stdout, "200 hostpci1: (mapping lan) 0000:05:00.0: refused: NIC of the default route", "the mapping")
    eq(ptlua(["scripts/lint.lua", "--vm", "202"], root=root, check=0).stdout.strip(), "0 findings", "a fine VM")
    p = ptlua(["scripts/lint.lua", "--vm", "999"], root=root, check=1)
    contains(p.stderr, "VM 999 has no config on this node", "a missing VM is an error")


@test()
def assign_lint_group_incomplete_only_where_a_driver_holds_a_member(tmp):
    """VFIO takes a group whose members are on vfio-pci, pci-stub or no driver: only a member a
    host driver holds keeps the VM from starting."""
    spec = HOMELAB + ("0000:00:1c.7 8086:a33f 060400 group=14 pcie=root driver=pcieport\n"
                      "0000:09:00.0 1b21:0612 010601 group=15 driver=ahci parent=0000:00:1c.7\n"
                      "0000:09:00.1 1b21:0612 010601 group=15 parent=0000:00:1c.7\n")
    root = homelab(tmp, spec=spec, confs={204: "hostpci0: 00:1f.4\n", 205: "hostpci0: 09:00.0\n"})
    out = ptlua(["scripts/lint.lua"], root=root, check=1).stdout.splitlines()
    eq(out, ["204 hostpci0: 0000:00:1f.4 shares IOMMU group 9 with 0000:00:1f.3, which the VM does not get and "
             "snd_hda_intel holds: the VM cannot start", "1 findings"], "the member on no driver is no finding")


def hook(tmp, root, script, vm, check):
    snippets = os.path.join(tmp, "snippets")
    os.makedirs(snippets, exist_ok=True)
    snippet = shutil.copy(os.path.join(TOP, "scripts", script), snippets)
    return run([PTLUA, "--root", root, snippet, str(vm), "pre-start"], env=kemu_env(root), cwd=snippets, check=check)


@test()
def assign_prestart_stops_the_vm_before_any_write(tmp):
    root = homelab(tmp, confs={
        200: "hostpci0: 04:00,pcie=1\nmachine: q35\n",
        203: "hookscript: local:snippets/gpu-audio.lua\nhostpci0: 01:00,pcie=1\nhostpci1: 06:00.0\nmachine: q35\n",
        202: "hostpci0: 01:00,pcie=1\nmachine: q35\n",
    })
    before = snapshot(root)
    p = hook(tmp, root, "guard.lua", 200, 1)
    contains(p.stderr, "libpt[200]: pre-start refused: hostpci0: 0000:04:00.0: refused: controller of / "
                       "(/dev/nvme0n1p2)", "guard.lua: the reason on stderr")
    p = hook(tmp, root, "gpu-audio.lua", 203, 1)
    contains(p.stderr, "libpt[203]: pre-start refused: hostpci1: 0000:06:00.0: refused: it goes with 0000:05:00.0 "
                       "(IOMMU group 8), NIC of the default route", "a bundled hookscript, before it binds the GPU")
    p = hook(tmp, root, "guard.lua", 300, 1)
    contains(p.stderr, "VM 300 has no config on this node", "no config")
    assert not tree_diff(before, snapshot(root)), tree_diff(before, snapshot(root))
    p = hook(tmp, root, "guard.lua", 202, 0)
    eq(p.stderr, "", "a VM that takes nothing critical starts")
    out = ptlua(["scripts/guard.lua", "--vm", "200"], root=root, check=1).stdout
    contains(out, "hostpci0 0000:04:00.0: Non-Volatile memory controller (storage); host-critical", "by hand")


@test()
def assign_one_grammar_one_vm_id_one_kind(tmp):
    root = homelab(tmp)
    script = os.path.join(tmp, "ids.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\n'
                'for _, s in ipairs{"01:00", "0000:01:00.1", "10000:E1:1F.7", "0000:01:ff.f", "01:00.8", "1:00.0", "01:00:0"} do\n'
                '  print(s, pt.pci_id(s))\n'
                'end\n'
                'for _, s in ipairs{"100", "00100", "99", "1000000000", "4294967396", "1e2", "999999999"} do\n'
                '  print(s, pt.vmid(s))\n'
                'end\n'
                'local inv = pt.scan()\n'
                'for _, a in ipairs{"00:02.0", "01:00.1", "00:14.0", "04:00", "05:00.0", "06:00.0", "00:1f.4", "00:1c.0"} do\n'
                '  print(a, inv:device(a).kind)\n'
                'end\n'
                'print(assert(pt.emit_qemu({"0000:01:ff.f"})))\n')
    p = ptlua([script], root=root, check=1)
    eq(p.stdout.splitlines(), [
        "01:00\t0000:01:00\ttrue", "0000:01:00.1\t0000:01:00.1\tfalse", "10000:E1:1F.7\t10000:e1:1f.7\tfalse",
        "0000:01:ff.f\tnil", "01:00.8\tnil", "1:00.0\tnil", "01:00:0\tnil",
        "100\t100", "00100\tnil", "99\tnil", "1000000000\tnil", "4294967396\tnil", "1e2\tnil", "999999999\t999999999",
        "00:02.0\tgpu", "01:00.1\taudio", "00:14.0\tusb", "04:00\tstorage", "05:00.0\tnetwork", "06:00.0\tmultimedia",
        "00:1f.4\tserial-bus", "00:1c.0\tbridge",
    ], "ids, VM ids, kinds")
    contains(p.stderr, '"0000:01:ff.f" is not a PCI address', "what inv:device refuses, the emitters refuse")
    p = ptlua(["scripts/bind.lua", "--device", "04:00.0", "--vm", "00100"], root=root, check=2)
    contains(p.stderr, "--vm '00100' is not a VM id", "no leading zeros")


@test()
def assign_qemu_slot_without_function_0(tmp):
    """A function whose slot's function 0 stays on the host is the guest's function 0: a guest
    looks for a slot's other functions only when function 0 is there."""
    root = homelab(tmp, spec=HOMELAB + "0000:00:1c.6 8086:a33e 060400 group=11 pcie=root driver=pcieport\n"
                   "0000:08:00.0 8086:1533 020000 group=12 driver=igb parent=0000:00:1c.6\n"
                   "0000:08:00.1 8086:1533 020000 group=13 driver=igb parent=0000:00:1c.6\n")
    out = ptlua(["scripts/emit.lua", "--format", "qemu", "--device", "08:00.1"], root=root).stdout
    eq(out, "-device pcie-root-port,id=pt-port0,chassis=101,slot=1 "
            "-device vfio-pci,host=0000:08:00.1,bus=pt-port0,addr=0x0.0\n", "function 0 in the guest")
    out = ptlua(["scripts/emit.lua", "--format", "qemu", "--device", "01:00.0"], root=root).stdout
    eq(out, "-device pcie-root-port,id=pt-port0,chassis=101,slot=1 "
            "-device vfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on "
            "-device vfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1\n", "a whole slot as it is")


# (recipe and its arguments, whether it may go): each run as a dry run and for real on the kernel
# emulator, on a fresh tree each; both must refuse the same things with the same reason
PARITY = [
    (["scripts/bind.lua", "--device", "04:00.0", "--vm", "200"], False),
    (["scripts/bind.lua", "--device", "03:00.0", "--vm", "200"], True),
    (["scripts/hba-truenas.lua", "--device", "04:00.0", "--vm", "200"], False),
    (["scripts/hba-truenas.lua", "--device", "03:00.0", "--vm", "200"], True),
    (["scripts/gpu-audio.lua", "--gpu", "00:02.0", "--vm", "200"], False),
    (["scripts/gpu-audio.lua", "--gpu", "02:00.0", "--vm", "200"], True),
    (["scripts/nic.lua", "--device", "05:00.0", "--vm", "200"], False),
    (["scripts/usb-controller.lua", "--device", "00:14.0", "--vm", "200"], False),
    (["scripts/usb-controller.lua", "--device", "07:00.0", "--vm", "200"], True),
    (["scripts/reset.lua", "--device", "02:00.0"], False),
    (["scripts/reset.lua", "--device", "00:1f.0"], False),
    (["scripts/single-gpu.lua", "--gpu", "01:00.0", "--vm", "200"], True),
]


@test(timeout=120)
def assign_dry_run_and_commit_refuse_the_same(tmp):
    for n, (args, goes) in enumerate(PARITY):
        for loaded in (True, False):
            spec = HOMELAB + ("driver vfio-pci\n" if loaded else "")
            seen = []
            for dry in (True, False):
                root = homelab(os.path.join(tmp, f"{n}-{loaded}-{dry}"), spec=spec)
                p = run([PTLUA, "--root", root] + args + (["--dry-run"] if dry else []), cwd=TOP,
                        env=kemu_env(root), check=None)
                err = p.stderr.strip().splitlines()[-1] if p.returncode else ""
                seen.append((p.returncode, err.replace("ptlua: would fail: ", "ptlua: ").replace(root, "ROOT")))
            what = " ".join(args) + ("" if loaded else " (vfio-pci not loaded)")
            eq(seen[0], seen[1], what + ": the dry run decides as the commit does")
            if loaded and "reset" not in args[0]:
                eq(seen[0][0] == 0, goes, what)
    # the dry run says which decision it is
    root = homelab(os.path.join(tmp, "say"))
    p = ptlua(["scripts/bind.lua", "--device", "03:00.0", "--vm", "200", "--dry-run"], root=root, check=1)
    contains(p.stderr, "would fail: vfio-pci is not loaded", "said")
    p = ptlua(["scripts/reset.lua", "--device", "02:00.0", "--dry-run"], root=root, check=1)
    contains(p.stderr, "0000:02:00.0: bound to amdgpu: a reset would pull the device from under its driver", "reset")
    p = ptlua(["scripts/reset.lua", "--device", "00:1f.0", "--dry-run"], root=root, check=1)
    contains(p.stderr, "the kernel offers no reset for it", "a bridge")
    root = homelab(os.path.join(tmp, "console"), spec=HOMELAB + "driver vfio-pci\n")
    out = ptlua(["scripts/single-gpu.lua", "--gpu", "01:00.0", "--vm", "200", "--dry-run"], root=root).stdout
    contains(out, "0000:01:00.0 does not hold the host's console: the console stays with the host", "console elsewhere")
    assert "vtcon" not in out and "framebuffer" not in out, out


@test()
def assign_persist_is_the_union_of_every_set(tmp):
    """A second GPU adds to what libpt persisted (ids=, softdeps), never replaces the first;
    --remove takes a set out; a driver a device staying on the host uses is never blacklisted."""
    root = homelab(tmp)
    for d in ("etc/modprobe.d", "etc/default", "etc/initramfs-tools"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    conf = os.path.join(root, "etc/modprobe.d/libpt-vfio.conf")
    persist = lambda *a: ptlua(["scripts/persist.lua", *a, "--apply"], root=root).stdout
    persist("--device", "01:00.0", "--blacklist")
    with open(conf) as f:
        first = f.read()
    contains(first, "options vfio-pci ids=10de:2484,10de:228b\n", "the first GPU")
    contains(first, "blacklist nouveau\n", "no device staying on the host uses nouveau")
    contains(first, "# not blacklisted: snd_hda_intel also drives 0000:00:1f.3, which stays on the host",
             "the onboard audio keeps its driver")
    assert "blacklist snd_hda_intel" not in first, first
    persist("--device", "02:00.0")
    with open(conf) as f:
        both = f.read()
    contains(both, "# Written by libpt: 0000:01:00.0 0000:01:00.1 0000:02:00.0 0000:02:00.1 go to vfio-pci", "both")
    contains(both, "options vfio-pci ids=10de:2484,10de:228b,1002:73bf,1002:ab28\n", "ids= of both")
    contains(both, "softdep nouveau pre: vfio-pci\n", "the first's softdep kept")
    contains(both, "blacklist nouveau\n", "the first's blacklist kept")
    eq(persist("--device", "02:00.0").strip(), "# the host is already set up for 0000:02:00.0 0000:02:00.1",
       "again: nothing to change")
    persist("--device", "01:00.0", "--remove")
    with open(conf) as f:
        left = f.read()
    contains(left, "# Written by libpt: 0000:02:00.0 0000:02:00.1 go to vfio-pci", "the second stays")
    contains(left, "options vfio-pci ids=1002:73bf,1002:ab28\n", "ids= of the second")
    assert "nouveau" not in left, left
    persist("--device", "02:00.0", "--remove")
    with open(conf) as f:
        contains(f.read(), "# Written by libpt: no device goes to vfio-pci at boot (all taken out).", "none left")


@test()
def assign_hookscript_finds_a_mapped_gpu(tmp):
    """A VM whose GPU comes through a cluster mapping: the pre-start's guard and its GPU both come
    from the assignment of the VM's lines, the mapping resolved for this node."""
    root = homelab(tmp, spec=HOMELAB + "driver vfio-pci\n",
                   confs={200: "hostpci0: mapping=rtx,pcie=1\nmachine: q35\n"})
    with open(os.path.join(root, "etc/pve/mapping/pci.cfg"), "w") as f:
        f.write("rtx\n\tmap id=10de:2484,node=pve2,path=0000:0a:00\n\tmap id=10de:2484,node=pve1,path=0000:01:00\n")
    p = hook(tmp, root, "gpu-audio.lua", 200, 0)
    contains(p.stderr, "libpt[200]: vm 200 holds 0000:01:00.0 0000:01:00.1", "the mapped GPU bound")
    out = ptlua(["scripts/guard.lua", "--vm", "200"], root=root).stdout
    contains(out, "hostpci0 (mapping rtx) 0000:01:00.0: VGA compatible controller (gpu)", "by hand")


@test()
def assign_persist_remembers_host_drivers(tmp):
    """A persisted GPU is on vfio-pci after the reboot and no longer says what its host driver
    was: the file remembers it, so a later plan keeps its softdep, and --remove takes its softdep
    and blacklist out with it."""
    root = homelab(tmp, spec=HOMELAB + "driver vfio-pci\n")
    for d in ("etc/modprobe.d", "etc/default", "etc/initramfs-tools"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    conf = os.path.join(root, "etc/modprobe.d/libpt-vfio.conf")
    env = kemu_env(root)
    persist = lambda *a: run([PTLUA, "--root", root, "scripts/persist.lua", *a, "--apply"], cwd=TOP, env=env, check=0)
    persist("--device", "01:00.0", "--blacklist")
    # as after a reboot: vfio-pci has the GPU
    run([PTLUA, "--root", root, "scripts/bind.lua", "--device", "01:00.0", "--vm", "200"], cwd=TOP, env=env, check=0)
    persist("--device", "02:00.0")
    with open(conf) as f:
        both = f.read()
    contains(both, "# Their host drivers: 0000:01:00.0=nouveau 0000:01:00.1=snd_hda_intel 0000:02:00.0=amdgpu "
                   "0000:02:00.1=snd_hda_intel\n", "remembered")
    contains(both, "softdep nouveau pre: vfio-pci\n", "the bound GPU's driver, from the file")
    contains(both, "blacklist nouveau\n", "its blacklist kept")
    persist("--device", "01:00.0", "--remove")
    with open(conf) as f:
        left = f.read()
    assert "nouveau" not in left, left
    contains(left, "softdep amdgpu pre: vfio-pci\n", "the other stays")
