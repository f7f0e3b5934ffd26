"""Installed as Proxmox admins install software: recipes by name, ptlua --list, a VM's hookscript
in one command (run as Proxmox runs it), and plain scripts of the admin's own."""
import os
import re

from harness import PTLUA, TOP, build_spec, contains, eq, kemu_env, run, snapshot, test, tree_diff

# Proxmox runs hookscripts with this PATH alone (pve-common's PVE/Daemon.pm and CLIHandler.pm).
PROXMOX_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"

STORAGE_CFG = """dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

nfs: shared
\tserver 10.0.0.2
\texport /srv/pve
\tcontent images,snippets
\tnodes other-node
"""

# A stand-in for qm: records its arguments, and sets or deletes the hookscript line of the VM's
# config as qm does (the config's only writer here, as qm is on Proxmox).
QM = """#!/bin/sh
echo "$*" >> "{log}"
conf="{root}/etc/pve/qemu-server/$2.conf"
sed -i '/^hookscript:/d' "$conf"
if [ "$3" = --hookscript ]; then echo "hookscript: $4" >> "$conf"; fi
"""


def proxmox_host(tmp):
    with open(os.path.join(TOP, "tests/homelab.spec")) as f:
        root = build_spec(f.read() + "driver vfio-pci\n", os.path.join(tmp, "root"))
    os.makedirs(f"{root}/etc/pve/qemu-server")
    os.makedirs(f"{root}/var/lib/vz")
    with open(f"{root}/etc/pve/storage.cfg", "w") as f:
        f.write(STORAGE_CFG)
    with open(f"{root}/etc/hostname", "w") as f:
        f.write("pve1\n")
    for vm, extra in ((100, ""), (101, "hookscript: local:snippets/mine.pl\n")):
        with open(f"{root}/etc/pve/qemu-server/{vm}.conf", "w") as f:
            f.write(f"memory: 8192\nmachine: q35\nhostpci0: 0000:01:00,pcie=1\n{extra}")
    qm = os.path.join(tmp, "qm")
    with open(qm, "w") as f:
        f.write(QM.format(log=os.path.join(tmp, "qm.log"), root=root))
    os.chmod(qm, 0o755)
    return root, qm


def qm_calls(tmp):
    path = os.path.join(tmp, "qm.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        calls = f.read().splitlines()
    os.unlink(path)
    return calls


def driver(root, address):
    link = f"{root}/sys/bus/pci/devices/{address}/driver"
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


@test(timeout=120)
def install_recipes_by_name_and_list(tmp):
    root, _ = proxmox_host(tmp)
    bundled = sorted(f[:-4] for f in os.listdir(f"{TOP}/scripts") if f.endswith(".lua"))
    listed = run([PTLUA, "--root", root, "--list"], check=0, cwd="/").stdout.splitlines()
    names = [line.split()[0] for line in listed]
    eq(names, sorted(bundled + ["hookscript"]), "every bundled recipe and the built-in, by name")
    for line in listed:
        assert re.match(r"^\S+ +\S", line) and "cannot be loaded" not in line, line
    # by name, from any directory, with or without .lua: the same as by path
    by_path = run([PTLUA, "--root", root, f"{TOP}/scripts/report.lua", "--json"], check=0).stdout
    for name in ("report", "report.lua"):
        eq(run([PTLUA, "--root", root, name, "--json"], check=0, cwd="/").stdout, by_path, f"ptlua {name}")
    contains(run([PTLUA, "gpu-audio", "--help"], check=0, cwd="/").stdout, "usage: ptlua gpu-audio [OPTIONS]",
             "help names the recipe as typed")
    p = run([PTLUA, "--root", root, "no-such-recipe"], check=1, cwd="/")
    contains(p.stderr, "no-such-recipe: no such recipe or file (ptlua --list names the recipes)", "unknown name")
    # the admin's own recipes first: one of its own, and one that stands in for a bundled one
    os.makedirs(f"{root}/etc/libpt/recipes")
    for name, text in (("mine", "my own"), ("report", "the admin's report")):
        with open(f"{root}/etc/libpt/recipes/{name}.lua", "w") as f:
            f.write(f'return {{ name = "{name}", description = "{text}", run = function() print("{text} ran") end }}\n')
    listed = run([PTLUA, "--root", root, "--list"], check=0, cwd="/").stdout
    contains(listed, f"mine             my own ({root}/etc/libpt/recipes)", "the admin's recipe, marked")
    contains(listed, f"report           the admin's report ({root}/etc/libpt/recipes)", "it hides the bundled one")
    eq(run([PTLUA, "--root", root, "report"], check=0, cwd="/").stdout, "the admin's report ran\n", "run by name")
    eq(run([PTLUA, "--root", root, "--check", "mine", "gpu-audio"], check=0, cwd="/").stdout,
       "ok mine\nok gpu-audio\n", "--check by name")


@test(timeout=180)
def install_hookscript_in_one_command(tmp):
    root, qm = proxmox_host(tmp)
    hook = ["hookscript", "--vm", "100", "--recipe", "gpu-audio", "--gpu", "01:00.0"]

    def ptlua(args, check):
        return run([PTLUA, "--root", root, *args, "--qm", qm], check=check, cwd="/")

    # snippets not enabled on the storage: refused, saying how to enable them; nothing written
    before = snapshot(root)
    p = ptlua(hook, 1)
    contains(p.stderr, "storage 'local' does not hold snippets; enable them with: pvesm set local "
             "--content iso,vztmpl,backup,snippets", "how to enable snippets")
    contains(ptlua(hook + ["--storage", "local-lvm"], 1).stderr, "storage 'local-lvm' (lvmthin) keeps no files",
             "a storage without files")
    contains(ptlua(hook + ["--storage", "shared"], 1).stderr, "storage 'shared' is not on this node (pve1",
             "a storage of other nodes")
    contains(ptlua(hook + ["--storage", "nowhere"], 1).stderr, "storage 'nowhere': not in", "no such storage")
    eq(tree_diff(before, snapshot(root)), [], "refusals write nothing")
    eq(qm_calls(tmp), [], "and run no qm")
    with open(f"{root}/etc/pve/storage.cfg", "w") as f:
        f.write(STORAGE_CFG.replace("content iso,vztmpl,backup\n", "content iso,vztmpl,backup,snippets\n", 1))
    before = snapshot(root)

    # a typo in the recipe's options fails now, not at the VM's start
    contains(ptlua(hook + ["--gpux", "1"], 2).stderr, "the recipe gpu-audio: unknown option '--gpux'", "typo")
    contains(ptlua(["hookscript", "--vm", "100", "--recipe", "report"], 1).stderr,
             "the recipe report has no hookscript phase", "not a hookscript")
    contains(ptlua(["hookscript", "--vm", "0100", "--recipe", "gpu-audio"], 1).stderr,
             "VM id '0100': must be 100 to 999999999", "VM id")
    # the VM's own hookscript is not replaced without --replace
    contains(ptlua(["hookscript", "--vm", "101", "--recipe", "gpu-audio"], 1).stderr,
             "VM 101 already has the hookscript local:snippets/mine.pl", "another hookscript kept")

    # dry run: the snippet and the steps, nothing done
    out = ptlua(hook + ["--dry-run"], 0).stdout
    snippet = f"{root}/var/lib/vz/snippets/libpt-100.lua"
    contains(out, f"Would do:\n  write {snippet} (mode 0755)\n  {qm} set 100 --hookscript local:snippets/libpt-100.lua\n",
             "the dry run's steps")
    contains(out, 'return { recipe = "gpu-audio", vm = 100, args = { "--gpu", "01:00.0" } }', "the snippet")
    eq(tree_diff(before, snapshot(root)), [], "a dry run writes nothing")
    eq(qm_calls(tmp), [], "and runs no qm")

    # the real run: an executable snippet, qm given exactly these arguments
    out = ptlua(hook, 0).stdout
    eq(qm_calls(tmp), ["set 100 --hookscript local:snippets/libpt-100.lua"], "qm's arguments")
    assert os.stat(snippet).st_mode & 0o777 == 0o755, oct(os.stat(snippet).st_mode)
    with open(snippet) as f:
        first = f.readline()
    eq(first, f"#!{PTLUA} --root={root}\n", "the shebang: ptlua's absolute path (and the root it was written under)")
    eq(ptlua(hook, 0).stdout, f"Done:\n  write {snippet} (mode 0755)\n", "again: the same snippet, qm not needed")

    # run as Proxmox runs it: only PATH in the environment (the kernel emulator's variables stand
    # in for the kernel), then the snippet's path, the VM and the phase
    kemu = kemu_env(root)
    # (and, under make check SANITIZE=1, the sanitizers' options: the test's, not Proxmox's)
    env = {"PATH": PROXMOX_PATH, **{k: kemu[k] for k in kemu if k.startswith(("KEMU", "ASAN_", "UBSAN_"))
                                    or k == "LD_PRELOAD"}}
    p = run([snippet, "100", "pre-start"], env=env, cwd="/")
    eq(p.returncode, 0, f"pre-start: {p.stderr}")
    eq((driver(root, "0000:01:00.0"), driver(root, "0000:01:00.1")), ("vfio-pci", "vfio-pci"), "bound at pre-start")
    p = run([snippet, "100", "post-stop"], env=env, cwd="/")
    eq(p.returncode, 0, f"post-stop: {p.stderr}")
    eq((driver(root, "0000:01:00.0"), driver(root, "0000:01:00.1")), ("nouveau", "snd_hda_intel"), "given back")
    # set on another VM by mistake: refused before anything is bound
    p = run([snippet, "101", "pre-start"], env=env, cwd="/")
    eq(p.returncode, 1, "another VM")
    contains(p.stderr, "is the hookscript of VM 100, not of VM 101", "another VM's start refused")
    eq(driver(root, "0000:01:00.0"), "nouveau", "nothing bound for it")
    # a snippet that would take the host's disk controller: the guard stops the start
    ptlua(["hookscript", "--vm", "101", "--recipe", "gpu-audio", "--replace"], 0)
    eq(qm_calls(tmp), ["set 101 --hookscript local:snippets/libpt-101.lua"], "--replace")
    with open(f"{root}/etc/pve/qemu-server/101.conf", "a") as f:
        f.write("hostpci1: 0000:04:00.0\n")
    p = run([f"{root}/var/lib/vz/snippets/libpt-101.lua", "101", "pre-start"], env=env, cwd="/")
    eq(p.returncode, 1, "the guard")
    contains(p.stderr, "0000:04:00.0", "names the root disk's controller")

    # --remove: the VM's hookscript deleted through qm, the snippet removed
    out = ptlua(["hookscript", "--vm", "100", "--remove"], 0).stdout
    eq(qm_calls(tmp), ["set 100 --delete hookscript"], "qm deletes it")
    eq(os.path.exists(snippet), False, "snippet removed")
    contains(out, f"remove {snippet}", "said")


@test()
def install_hookscript_qm_that_fails_leaves_nothing(tmp):
    root, _ = proxmox_host(tmp)
    with open(f"{root}/etc/pve/storage.cfg", "w") as f:
        f.write(STORAGE_CFG.replace("content iso,vztmpl,backup\n", "content iso,vztmpl,backup,snippets\n", 1))
    qm = os.path.join(tmp, "qm-fails")
    with open(qm, "w") as f:
        f.write("#!/bin/sh\necho \"VM is locked (backup)\"\nexit 255\n")
    os.chmod(qm, 0o755)
    before = snapshot(root)
    p = run([PTLUA, "--root", root, "hookscript", "--vm", "100", "--recipe", "guard", "--qm", qm], cwd="/")
    eq(p.returncode, 1, "qm failed")
    contains(p.stderr, "exit status 255: VM is locked (backup)", "qm's words")
    eq(tree_diff(before, snapshot(root)), [], "the snippet it wrote is gone again")


@test()
def install_hookscript_without_qm_prints_the_command(tmp):
    root, _ = proxmox_host(tmp)
    with open(f"{root}/etc/pve/storage.cfg", "w") as f:
        f.write(STORAGE_CFG.replace("content iso,vztmpl,backup\n", "content iso,vztmpl,backup,snippets\n", 1))
    with open(f"{root}/etc/pve/qemu-server/100.conf") as f:
        config = f.read()
    out = run([PTLUA, "--root", root, "hookscript", "--vm", "100", "--recipe", "guard"], check=0, cwd="/").stdout
    contains(out, "to do by hand: qm set 100 --hookscript local:snippets/libpt-100.lua", "the command to type")
    contains(out, "never edit a VM's config by hand", "why")
    with open(f"{root}/etc/pve/qemu-server/100.conf") as f:
        eq(f.read(), config, "the VM's config untouched")


@test()
def install_plain_scripts_act_only_when_trusted(tmp):
    root = build_spec("0000:01:00.0 8086:15f3 020000 group=1 driver=igc\ndriver vfio-pci\n",
                      os.path.join(tmp, "root"))
    script = os.path.join(tmp, "mine.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\nlocal inv = assert(pt.scan())\n'
                'assert(pt.bind(inv:device("01:00.0"), { vm = 100 })):commit()\nprint("bound")\n')
    p = run([PTLUA, "--root", root, script], env=kemu_env(root), cwd="/")
    eq(p.returncode, 1, "refused")
    contains(p.stderr, "refused at a script's top level", "why")
    contains(p.stderr, "run your own script with ptlua --trusted", "what to do")
    eq(driver(root, "0000:01:00.0"), "igc", "nothing bound")
    p = run([PTLUA, "--root", root, "--trusted", script], env=kemu_env(root), cwd="/", check=0)
    eq((p.stdout, driver(root, "0000:01:00.0")), ("bound\n", "vfio-pci"), "--trusted acts")


@test()
def install_pve_section_configs_read_as_pve_reads_them(tmp):
    # one reader for storage.cfg and the mappings (pt_pve_config_read): heads with and without a
    # type, comments inside a section, a blank line ending one, keys that come again, CRLF, lines
    # of neither kind skipped
    root = os.path.join(tmp, "root")
    os.makedirs(f"{root}/etc/pve/mapping")
    with open(f"{root}/etc/pve/storage.cfg", "w") as f:
        f.write("dir: local\r\n\tpath /var/lib/vz\r\n# inside\n\tcontent iso,snippets\n\n\tstray value\n"
                "nfs: nas\n    server 10.0.0.2\n\tpath /mnt/pve/nas\nbad head here\n\tkey lost\n")
    with open(f"{root}/etc/pve/mapping/pci.cfg", "w") as f:
        f.write("gpu\n\tmap id=10de:1b81,node=pve1,path=0000:01:00.0\n\tmap id=10de:1b81,node=pve2,path=0000:02:00.0\n"
                "\tdescription two nodes\n")
    script = os.path.join(tmp, "read.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\n'
                'for _, file in ipairs { "/etc/pve/storage.cfg", "/etc/pve/mapping/pci.cfg" } do\n'
                '  for _, s in ipairs(assert(pt.pve_config(file))) do\n'
                '    local props = {}\n'
                '    for _, p in ipairs(s) do props[#props + 1] = p[1] .. "=" .. p[2] end\n'
                '    print(tostring(s.type) .. "|" .. s.id .. "|" .. table.concat(props, ";"))\n'
                '  end\nend\n'
                'print(select(2, pt.pve_config("/etc/pve/none.cfg")), select(3, pt.pve_config("/etc/pve/none.cfg")) == pt.errno.ENOENT)\n'
                'print(select(2, pt.pve_config("/etc/passwd")))\n')
    out = run([PTLUA, "--root", root, script], check=0, cwd="/").stdout
    eq(out.splitlines(), [
        "dir|local|path=/var/lib/vz;content=iso,snippets",
        "nfs|nas|server=10.0.0.2;path=/mnt/pve/nas",
        "nil|gpu|map=id=10de:1b81,node=pve1,path=0000:01:00.0;map=id=10de:1b81,node=pve2,path=0000:02:00.0;"
        "description=two nodes",
        "/etc/pve/none.cfg: absent\ttrue",
        "/etc/passwd: not a Proxmox config file under /etc/pve\t22",
    ], "sections, properties and refusals")
