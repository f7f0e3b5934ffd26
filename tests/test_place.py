"""Placement (issue 24): a VM next to its devices. On a two-socket host (tests/twonode.spec: SMT
siblings, huge pages per node), a GPU on node 1: the emitted Proxmox, libvirt and QEMU
configuration puts the VM's vCPUs on node 1's CPUs (whole cores, none another VM pins), its memory
bound there, on huge pages where asked, and says what falls short; Proxmox's grammar reads the
lines, libvirt's schema the domain, QEMU starts with the arguments."""
import os
import re
import shlex

from harness import TOP, contains, eq, ptlua, run, test
from test_emit import start_qemu

SPEC = os.path.join(TOP, "tests", "twonode.spec")


def host(tmp, vm100="cores: 2\nsockets: 2\nmemory: 8192\n"):
    root = os.path.join(tmp, "root")
    run(["python3", os.path.join(TOP, "tests", "mkfixture.py"), "--spec", SPEC, root], check=0)
    conf = os.path.join(root, "etc/pve/qemu-server")
    os.makedirs(conf)
    with open(os.path.join(conf, "100.conf"), "w") as f:
        f.write(vm100)
    with open(os.path.join(conf, "200.conf"), "w") as f:  # pins a core and a half of node 1
        f.write("affinity: 8,24,9\nmemory: 2048\n")
    return root


def emit(root, *args, check=0):
    return ptlua(["scripts/emit.lua", *args], root=root, check=check)


def cpus(text):
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out


@test()
def place_proxmox_on_the_gpus_node(tmp):
    root = host(tmp)
    out = emit(root, "--format", "proxmox", "--device", "01:00", "--vm", "100", "--place", "--hugepages", "2").stdout
    lines = dict(l.split(": ", 1) for l in out.splitlines() if not l.startswith("#"))
    # 4 vCPUs (cores 2 x sockets 2) on node 1 (8-15,24-31): whole cores, none VM 200 pins (8, 24, 9)
    eq(lines["affinity"], "10-11,26-27", "affinity")
    assert cpus(lines["affinity"]) <= cpus("8-15,24-31") and not cpus(lines["affinity"]) & {8, 9, 24}
    eq(lines["numa"], "1", "numa")
    eq(lines["numa0"], "cpus=0-3,hostnodes=1,memory=8192,policy=bind", "numa0: the memory on the GPU's node")
    eq(lines["hugepages"], "2", "hugepages")
    contains(out, "# 3 CPUs of NUMA node 1 are other VMs' (their affinity): left out", "the pinned CPUs said")
    # qemu-server's grammar: affinity a pve-cpuset, numaN its property string, hugepages 2|1024|any
    assert re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", lines["affinity"])
    numa = dict(kv.split("=") for kv in lines["numa0"].split(","))
    eq(sorted(numa), ["cpus", "hostnodes", "memory", "policy"], "numa0's keys")
    assert re.fullmatch(r"\d+(-\d+)?(;\d+(-\d+)?)*", numa["cpus"]) and numa["policy"] in ("preferred", "bind", "interleave")
    # the lines parse back with libpt's reader of VM configs, and lint finds nothing off the node
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "a") as f:
        f.write("hostpci0: 01:00,pcie=1\nmachine: q35\n" + "".join(f"{k}: {v}\n" for k, v in lines.items()
                                                                     if k in ("affinity", "numa", "numa0", "hugepages")))
    p = ptlua(["scripts/lint.lua", "--vm", "100", "--json"], root=root)
    codes = [f["code"] for f in __import__("json").loads(p.stdout)]
    eq([c for c in codes if c.startswith(("affinity", "hostnodes", "devices-split", "hugepages"))], [],
       "lint on the placed VM")
    # node 1 short of pages: a stopped VM would not start; a running one holds its own already
    with open(os.path.join(root, "sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages"), "w") as f:
        f.write("100\n")
    place = ["--format", "proxmox", "--device", "01:00", "--vm", "100", "--place", "--hugepages", "2"]
    contains(emit(root, *place).stdout, "it would not start", "stopped: short")
    os.makedirs(os.path.join(root, "var/run/qemu-server"), exist_ok=True)
    with open(os.path.join(root, "var/run/qemu-server/100.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    assert "would not start" not in emit(root, *place).stdout, "running: its pages are its own"
    os.unlink(os.path.join(root, "var/run/qemu-server/100.pid"))
    # off its node: lint says so
    with open(os.path.join(root, "etc/pve/qemu-server/101.conf"), "w") as f:
        f.write("hostpci0: 01:00,pcie=1\naffinity: 0-3\nnuma: 1\nnuma0: cpus=0-3,hostnodes=0,memory=2048\n")
    p = ptlua(["scripts/lint.lua", "--vm", "101", "--json"], root=root, check=1)
    codes = [f["code"] for f in __import__("json").loads(p.stdout)]
    assert "affinity-off-device-node" in codes and "hostnodes-off-device-node" in codes, codes


@test()
def place_what_falls_short(tmp):
    root = host(tmp, "cores: 16\nsockets: 1\nmemory: 16384\n")
    out = emit(root, "--format", "proxmox", "--device", "01:00", "--vm", "100", "--place", "--hugepages", "2").stdout
    # node 1 has 16 CPUs, 3 pinned: 13 for 16 vCPUs; 16 GiB need 8192 2 MiB pages, 4096 free
    contains(out, "NUMA node 1 has 16 CPUs, 13 of them free of other VMs' affinity, for 16 vCPUs", "fewer CPUs")
    contains(out, "NUMA node 1 has 4096 free huge pages of 2048 KiB, the VM's 16384 MiB need 8192", "pages short")
    out = emit(root, "--format", "proxmox", "--device", "01:00", "--vm", "100", "--place", "--hugepages", "1024").stdout
    contains(out, "hugepages: 1024", "1 GiB pages")
    contains(out, "1 GiB pages are reserved reliably only at boot", "said honestly")
    # a set on two nodes, and devices on none, are refused naming them
    script = os.path.join(tmp, "split.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\nlocal inv = assert(pt.scan())\n'
                'print(select(2, pt.place(assert(pt.assign(inv, {"01:00", "02:00.0"}, {vm = 100})))))\n'
                'print(select(2, pt.place(assert(pt.assign(inv, {"00:01.0"}, {force = true})))))\n')
    p = ptlua(["--trusted", script], root=root)
    contains(p.stdout, "0000:01:00.0 is on NUMA node 1, 0000:02:00.0 on node 0: a VM runs near one of them only",
             "devices on two nodes")
    p = emit(root, "--format", "proxmox", "--device", "01:00", "--vm", "100", "--vcpus", "2", check=1)
    contains(p.stderr, "--vcpus goes with --place", "options only with --place")


@test(timeout=120)
def place_libvirt_and_qemu(tmp):
    root = host(tmp)
    xml = emit(root, "--format", "libvirt-domain", "--device", "01:00", "--vm", "100", "--place", "--hugepages",
               "1024").stdout
    path = os.path.join(tmp, "vm.xml")
    with open(path, "w") as f:
        f.write(xml)
    run(["virt-xml-validate", path, "domain"], check=0)
    contains(xml, "<vcpu placement='static' cpuset='10-11,26-27'>4</vcpu>", "libvirt: the vCPUs' CPUs")
    contains(xml, "<vcpupin vcpu='3' cpuset='27'/>", "each vCPU pinned")
    contains(xml, "<memory mode='strict' nodeset='1'/>", "numatune")
    contains(xml, "<page size='1048576' unit='KiB'/>", "hugepages")
    # QEMU: the NVMe on node 0, the node this machine has; QEMU starts with the placement's words
    p = emit(root, "--format", "qemu", "--device", "02:00.0", "--place", "--vcpus", "2", "--memory", "256")
    out = p.stdout + p.stderr
    words = shlex.split(p.stdout)
    eq(words[:8], ["-smp", "2", "-m", "256M", "-object",
                   "memory-backend-ram,id=pt-mem0,size=256M,host-nodes=0,policy=bind", "-numa",
                   "node,nodeid=0,cpus=0-1,memdev=pt-mem0"], "QEMU's placement")
    contains(out, "# run QEMU under taskset -c 0,16: its vCPU threads on NUMA node 0", "taskset")
    status, err = start_qemu(words[:8], timeout=5)
    eq(status, "running", f"QEMU starts with the placement's arguments: {err}")


@test()
def place_hugepages_reserved_at_boot(tmp):
    root = host(tmp)
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    grub = os.path.join(root, "etc/default/grub")
    with open(grub, "w") as f:
        f.write('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    # 16 GiB on 2 MiB pages: 8192 needed, node 1 has 4096 free (and no more: its nr_hugepages unknown)
    out = emit(root, "--format", "host", "--device", "01:00", "--place", "--hugepages", "2", "--memory", "16384").stdout
    contains(out, '+GRUB_CMDLINE_LINUX_DEFAULT="quiet hugepagesz=2M hugepages=1:8192"', "per-node pages at boot")
    contains(out, "echo 8192 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "and now")
    emit(root, "--format", "host", "--device", "01:00", "--place", "--hugepages", "1024", "--memory", "16384", "--apply")
    with open(grub) as f:
        contains(f.read(), "hugepagesz=1G hugepages=1:16", "1 GiB pages: at boot only; written")
    p = emit(root, "--format", "host", "--device", "01:00", "--place", "--hugepages", "2", check=1)
    contains(p.stderr, f"the kernel command line reserves huge pages already (hugepages=1:16 in {root}/etc/default/grub): "
             "one reservation a host", "another reservation is not rewritten")


@test()
def place_hugepages_on_the_command_line_the_kernel_gets(tmp):
    """Only the words the kernel gets count: a comment reserves nothing, the same reservation
    (libpt's earlier plan) is done, one in GRUB_CMDLINE_LINUX is another, named."""
    root = host(tmp)
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    grub = os.path.join(root, "etc/default/grub")
    with open(grub, "w") as f:
        f.write('# GRUB_CMDLINE_LINUX_DEFAULT="quiet hugepages=0:64"\nGRUB_CMDLINE_LINUX=""\n'
                'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    args = ["--format", "host", "--device", "01:00", "--place", "--hugepages", "2", "--memory", "16384"]
    out = emit(root, *args).stdout
    contains(out, '+GRUB_CMDLINE_LINUX_DEFAULT="quiet hugepagesz=2M hugepages=1:8192"', "a comment reserves nothing")
    emit(root, *args, "--apply")
    out = emit(root, *args).stdout
    contains(out, "# the host is already set up for 8192 pages of 2048 KiB on NUMA node 1", "the same: done")
    assert "nr_hugepages" not in out, out
    with open(grub, "w") as f:
        f.write('GRUB_CMDLINE_LINUX="hugepagesz=2M hugepages=1:100"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    p = emit(root, *args, check=1)
    contains(p.stderr, f"the kernel command line reserves huge pages already (hugepages=1:100 in {root}/etc/default/grub): "
             "one reservation a host, which libpt does not rewrite; add node 1's 8192 pages of 2048 KiB to it "
             "(hugepages=1:8192)", "another reservation named")


POOL = """0000:00:01.0 8086:2030 060400 group=1 pcie=root driver=pcieport numa=1
0000:01:00.0 10de:2484 030000 group=2 driver=vfio-pci boot_vga=0 parent=0000:00:01.0 numa=1
0000:00:02.0 8086:2030 060400 group=3 pcie=root driver=pcieport numa=0
0000:41:00.0 10de:2484 030000 group=4 driver=vfio-pci boot_vga=0 parent=0000:00:02.0 numa=0
0000:00:03.0 8086:2030 060400 group=5 pcie=root driver=pcieport numa=1
0000:81:00.0 10de:2484 030000 group=6 driver=vfio-pci boot_vga=0 parent=0000:00:03.0 numa=1
node 0 0-7
node 1 8-15
"""


@test()
def place_pools_ordered_and_the_alternative_a_vm_holds(tmp):
    root = os.path.join(tmp, "root")
    spec = os.path.join(tmp, "pool.spec")
    with open(spec, "w") as f:
        f.write(POOL)
    run(["python3", os.path.join(TOP, "tests", "mkfixture.py"), "--spec", spec, root], check=0)
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    with open(os.path.join(root, "etc/hostname"), "w") as f:
        f.write("pve1\n")
    # three identical GPUs, one mapping whose map lines are alternatives: the one asked for first,
    # then those on its NUMA node, then the rest (qemu-server takes the first free one)
    paths = lambda out: re.findall(r"path=([0-9a-f:.]+)", out)  # noqa: E731
    out = emit(root, "--format", "mapping", "--device", "81:00.0", "--mapping", "gpu", "--node", "pve1").stdout
    eq(paths(out), ["0000:81:00", "0000:01:00", "0000:41:00"], "asked, its node's, the others")
    out = emit(root, "--format", "mapping", "--device", "41:00.0", "--mapping", "gpu", "--node", "pve1").stdout
    eq(paths(out), ["0000:41:00", "0000:01:00", "0000:81:00"], "node 0's GPU first")
    os.makedirs(os.path.join(root, "etc/pve/mapping"))
    with open(os.path.join(root, "etc/pve/mapping/pci.cfg"), "w") as f:
        f.write("\n".join(l for l in emit(root, "--format", "mapping", "--device", "01:00.0", "--mapping", "gpu",
                                          "--node", "pve1").stdout.splitlines() if not l.startswith("#")) + "\n")
    conf = os.path.join(root, "etc/pve/qemu-server")
    os.makedirs(conf)
    for vm in (100, 101):  # two VMs of one pool: no "device in two VMs"
        with open(os.path.join(conf, f"{vm}.conf"), "w") as f:
            f.write("machine: q35\nhostpci0: mapping=gpu,pcie=1\naffinity: 0-3\n")
    import json
    codes = lambda vm: sorted({f["code"] for f in json.loads(ptlua(["scripts/lint.lua", "--vm", str(vm), "--json"],  # noqa: E731
                                                                   root=root, check=None).stdout)})
    # stopped: its start would take the first free alternative, 01:00 on node 1, off its affinity
    eq(codes(100), ["affinity-off-device-node"], "a stopped VM: the alternative its start takes")
    # running, holding 41:00 (Proxmox's reservation): that one is its device, on its node
    os.makedirs(os.path.join(root, "var/run/qemu-server"))
    os.makedirs(os.path.join(root, "run/qemu-server"), exist_ok=True)
    with open(os.path.join(root, "var/run/qemu-server/100.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    with open(os.path.join(root, "run/qemu-server/pci-id-reservations"), "w") as f:
        f.write(f"0000:41:00.0 100 pid:{os.getpid()}\n")
    eq(codes(100), [], "a running VM: the alternative it holds")
    # the hookscript's pre-start (guard.lua, a recipe's GPU) works from the same choice: VM 101
    # gets the first alternative VM 100 does not hold; two lines of one pool get two devices
    guard = lambda vm, check=0: ptlua(["scripts/guard.lua", "--vm", str(vm)], root=root, check=check).stdout  # noqa: E731
    got = lambda out: re.findall(r"^(hostpci\d) \(mapping gpu\) (\S+):", out, re.M)  # noqa: E731
    eq(got(guard(101)), [("hostpci0", "0000:01:00.0")], "VM 101: the first free one")
    eq(got(guard(100)), [("hostpci0", "0000:41:00.0")], "VM 100: the one it holds")
    with open(os.path.join(conf, "102.conf"), "w") as f:
        f.write("machine: q35\nhostpci0: mapping=gpu,pcie=1\nhostpci1: mapping=gpu,pcie=1\n")
    eq(got(guard(102)), [("hostpci0", "0000:01:00.0"), ("hostpci1", "0000:81:00.0")], "one device a line")
    with open(os.path.join(conf, "102.conf"), "a") as f:
        f.write("hostpci2: mapping=gpu,pcie=1\n")
    out = guard(102, check=1)
    contains(out, "refused: hostpci2 (mapping gpu): no alternative on this node is free for VM 102: "
             "0000:01:00 on another of its lines, 0000:81:00 on another of its lines, 0000:41:00 held by VM 100",
             "all taken")
    # lint says so of the line (its start would fail), not that the host needs the device
    findings = json.loads(ptlua(["scripts/lint.lua", "--vm", "102", "--json"], root=root, check=None).stdout)
    eq(sorted((f["key"], f["code"]) for f in findings if f["code"] in ("mapping-none-free", "host-critical")),
       [("hostpci2", "mapping-none-free")], "a full pool in lint")
    # a function the config names itself is taken before the pool's choice (a slot's path holds it)
    with open(os.path.join(conf, "103.conf"), "w") as f:
        f.write("machine: q35\nhostpci0: 01:00.0,pcie=1\nhostpci1: mapping=gpu,pcie=1\n")
    eq(got(guard(103)), [("hostpci1", "0000:81:00.0")], "host= 01:00.0 takes the slot 0000:01:00")
