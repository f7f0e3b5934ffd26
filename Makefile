# libpt: plain Makefile. `make demo` and `make check` install what is missing first.
SHELL = /bin/bash
# The version is the header's (PT_VERSION_*); the soname's major is its major.
VERSION := $(shell sed -n 's/^\#define PT_VERSION_\(MAJOR\|MINOR\|MICRO\) \([0-9]*\)$$/\2/p' include/libpt.h | paste -sd.)
ABI_MAJOR := $(firstword $(subst ., ,$(VERSION)))

CC ?= cc
CFLAGS ?= -O2 -g
LDFLAGS ?=
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/libpt
LUADIR ?= $(DATADIR)/lua
SCRIPTDIR ?= $(DATADIR)/scripts
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
LUA_CMOD_DIR ?= $(LIBDIR)/lua/5.4
DESTDIR ?=

LUA_CFLAGS := $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
LUA_LIBS := $(shell $(PKG_CONFIG) --libs lua5.4 2>/dev/null)
# libkmod, libusb and libmount are loaded on first use (libpt/core/dl.c), not linked: their
# start-up cost is measured.
PCI_LIBS := $(shell $(PKG_CONFIG) --libs libpci libudev jansson 2>/dev/null) -ldl -pthread

# make check SANITIZE=1: everything built with ASan and UBSan, the whole suite run on it.
ifeq ($(SANITIZE),1)
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
export PT_SANITIZE = 1
export ASAN_OPTIONS = verify_asan_link_order=0:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
endif

PT_CFLAGS = -std=gnu11 -pthread -Wall -Wextra -Wno-unused-parameter -fPIC -fvisibility=hidden -Iinclude -Ilibpt \
	$(shell $(PKG_CONFIG) --cflags mount 2>/dev/null)
PT_CPPFLAGS = -D_GNU_SOURCE -DPT_LUADIR='"$(LUADIR)"' -DPT_SCRIPTDIR='"$(SCRIPTDIR)"'

ifeq ($(V),1)
Q =
else
Q = @
endif

# The library's layers, one folder each: core (context, sysfs, files), inventory (the snapshot of
# the host), analysis (what the snapshot means), actions (what changes the host), emit (VM and
# host configuration).
LIB_SRC = $(addprefix libpt/core/,dl.c run.c ctx.c sysfs.c address.c files.c strv.c host.c kmod.c parallel.c values.c) \
	$(addprefix libpt/inventory/,snapshot.c kind.c pci.c pciattr.c iommu.c libpci.c names.c pciconfig.c usb.c mdev.c rom.c node.c vmconfig.c hostfacts.c usbhost.c listing.c pveconfig.c variant.c vfio.c iommufd.c power.c) \
	$(addprefix libpt/analysis/,explain.c guard.c scan.c assign.c modprobe.c doctor.c doctor-host.c doctor-device.c companions.c usbresolve.c findings.c lint.c json.c link.c locality.c placement.c) \
	$(addprefix libpt/actions/,journal.c txn.c txnsteps.c qmp.c reset.c romdump.c usbreset.c hold.c sriov.c hookscript.c usbattach.c) \
	$(addprefix libpt/emit/,text.c proxmox.c libvirt.c qemu.c mapping.c hostplan.c hostplan-vfio.c cmdline.c diff.c)
LIB_OBJ = $(LIB_SRC:libpt/%.c=build/%.o)
# The public header, and its parts by layer (include/libpt/*.h, only through <libpt.h>)
PUBLIC_HEADERS = include/libpt.h $(wildcard include/libpt/*.h)
LUA_OBJ = build/lua-pt.o build/lua-common.o build/lua-inventory.o build/lua-device.o build/lua-actions.o build/lua-host.o build/lua-usb.o build/lua-rom.o build/lua-mdev.o build/lua-emit.o build/lua-assignment.o build/lua-vmconf.o build/lua-node.o build/lua-hostplan.o build/lua-placement.o \
	build/lua-json.o build/lua-jsondecode.o build/lua-setup.o build/lua-bounds.o
SONAME = libpt.so.$(ABI_MAJOR)
SHLIB = libpt.so.$(VERSION)

LUA_MODULES = lua/pt/recipe.lua lua/pt/sandbox.lua lua/pt/snippet.lua lua/pt/proxmox.lua lua/pt/persist.lua lua/pt/topology.lua lua/pt/passthrough.lua lua/pt/usb.lua lua/pt/cluster.lua
LUA_BYTECODE = $(LUA_MODULES:.lua=.luac)
SCRIPTS = $(wildcard scripts/*.lua)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
UNITS = $(wildcard scripts/*.service scripts/*.timer)

# Debian packages: those to build, and those the tests and the demo use.
BUILD_DEPS = gcc make pkg-config liblua5.4-dev libpci-dev libkmod-dev libudev-dev libjansson-dev libmount-dev libusb-1.0-0-dev udev pciutils pci.ids
DEMO_DEPS = python3
CHECK_DEPS = abigail-tools clang libclang-rt-14-dev strace python3 valgrind lua5.4 time kmod graphviz qemu-system-x86 busybox-static cpio umockdev gir1.2-umockdev-1.0 python3-gi libvirt-clients
# make deb: Debian's packaging tools; make check tests the packages (tests/test_deb.py).
DEB_DEPS = build-essential debhelper devscripts lintian
CHECK_DEPS += $(DEB_DEPS)

all: $(SHLIB) $(SONAME) libpt.so libpt.a libpt-lua.a lua/pt.so lua/ptlua $(LUA_BYTECODE) libpt.pc

build:
	$(Q)mkdir -p build

# Objects are rebuilt when the flags change (SANITIZE=1 and back).
build/cflags: FORCE | build
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@

build/%.o: libpt/%.c libpt/libpt-private.h $(wildcard libpt/*/*.h) $(PUBLIC_HEADERS) build/cflags | build
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	@mkdir -p $(@D)
	$(Q)$(CC) $(PT_CPPFLAGS) $(PT_CFLAGS) $(CFLAGS) -c -o $@ $<

build/lua-%.o: lua/%.c lua/pt-lua.h lua/pt-lua-private.h lua/json.h $(PUBLIC_HEADERS) build/cflags | build
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(PT_CPPFLAGS) $(PT_CFLAGS) $(LUA_CFLAGS) $(CFLAGS) -c -o $@ $<

# The installed module and recipe directories are compiled into the set-up: rebuild it when
# PREFIX changes.
build/luadir: FORCE | build
	@echo '$(LUADIR) $(SCRIPTDIR)' | cmp -s - $@ || echo '$(LUADIR) $(SCRIPTDIR)' > $@

build/lua-setup.o: build/luadir

build/ptlua.o: lua/ptlua.c lua/pt-lua.h build/cflags | build
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(PT_CPPFLAGS) $(PT_CFLAGS) $(LUA_CFLAGS) $(CFLAGS) -c -o $@ $<

$(SHLIB): $(LIB_OBJ) libpt/libpt.sym build/cflags
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,libpt/libpt.sym \
		-Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJ) $(PCI_LIBS)

$(SONAME) libpt.so: $(SHLIB)
	$(Q)ln -sf $(SHLIB) $@

libpt.a: $(LIB_OBJ)
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJ)

# The binding and ptlua's interpreter set-up, for C programs that embed Lua with libpt.
libpt-lua.a: $(LUA_OBJ)
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $(LUA_OBJ)

# The module for the system's Lua 5.4 links the shared library.
lua/pt.so: $(LUA_OBJ) $(SHLIB) $(SONAME)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) -shared $(LDFLAGS) -o $@ $(LUA_OBJ) -L. -lpt

# ptlua carries the library and Lua in itself, so it runs from the build tree and from
# hookscripts alike; Lua linked statically is one shared library fewer to load at every start.
lua/ptlua: build/ptlua.o $(LUA_OBJ) libpt.a
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ build/ptlua.o $(LUA_OBJ) libpt.a -l:liblua5.4.a $(PCI_LIBS) -lm -ldl

# The bundled modules as bytecode, found before their sources (lua/luac.lua says why), compiled
# by ptlua itself so the format is its Lua's.
lua/pt/%.luac: lua/pt/%.lua lua/luac.lua lua/ptlua
	@[ "$(V)" = 1 ] || echo "  LUAC    $@"
	$(Q)./lua/ptlua --trusted lua/luac.lua $< $@ $(CURDIR)/$< $(if $(filter lua/pt/recipe.luac,$@),strip)

MAKE_PC = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' pkgconfig/libpt.pc.in

libpt.pc: pkgconfig/libpt.pc.in Makefile
	$(Q)$(MAKE_PC) > $@

# The ABI: `make abi-check` compares the library with the baseline of its soname (abidiff; a
# released version node stays closed: tests/abicheck.py); `make abi-baseline` writes that
# baseline, once, at the first release of a soname (a new major is a deliberate break, in NEWS).
ABI_BASELINE = libpt/abi/$(SONAME).abi

abi-check: $(SHLIB)
	$(Q)python3 tests/abicheck.py $(SHLIB) $(ABI_BASELINE) include libpt/abi/libpt.abignore

abi-baseline: $(SHLIB)
	$(Q)mkdir -p libpt/abi && abidw --headers-dir include --out-file $(ABI_BASELINE) $(SHLIB)
	@echo "wrote $(ABI_BASELINE): commit it with the release, and say so in NEWS"

# Installs the Debian packages that are missing (dpkg looks first; apt-get only when needed).
define install_deps
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then \
			echo "run as root, or: apt-get install -y$$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; } \
		|| exit 1; \
	fi
endef

deps-check:
	$(call install_deps,$(BUILD_DEPS) $(CHECK_DEPS))

SAMPLE = tests/fixtures/sample-host
FIXTURE_LISTING = tests/fixtures/listings/01-intel-z370-coffeelake-gt1030.txt

deps-demo:
	$(call install_deps,$(BUILD_DEPS) $(DEMO_DEPS))

demo: deps-demo
	$(Q)$(MAKE) --no-print-directory all
	@echo "== This host ==========================================================="
	$(Q)./lua/ptlua scripts/report.lua
	@echo
	@echo "== A sample host: $(notdir $(FIXTURE_LISTING)) ===="
	$(Q)rm -rf build/sample-host && python3 tests/mkfixture.py $(FIXTURE_LISTING) build/sample-host
	$(Q)./lua/ptlua --root build/sample-host scripts/report.lua

# Built and tested one job a CPU; the runner says how long make check took, build included.
NPROC := $(shell nproc 2>/dev/null || echo 1)
check: deps-check
	$(Q)export PT_CHECK_START=$$(date +%s.%N); \
	$(MAKE) --no-print-directory -j$(NPROC) all replay && python3 tests/run.py -j$(NPROC)

# The real-kernel tier alone: Debian's kernel under QEMU (tests/realkernel.py), its checks printed.
check-kernel: deps-check
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) all && python3 tests/run.py -v -j$(NPROC) --tier kernel

bench: deps-check
	$(Q)$(MAKE) --no-print-directory all
	$(Q)python3 tests/bench.py

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(LUADIR)/pt $(DESTDIR)$(SCRIPTDIR) \
		$(DESTDIR)$(LUA_CMOD_DIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0644 lua/ptlua.1 $(DESTDIR)$(MANDIR)/man1/ptlua.1
	install -m 0644 libpt/libpt.3 $(DESTDIR)$(MANDIR)/man3/libpt.3
	install -m 0644 $(wildcard libpt/man/*.3) $(DESTDIR)$(MANDIR)/man3/
	install -m 0755 $(SHLIB) $(DESTDIR)$(LIBDIR)/$(SHLIB)
	ln -sf $(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libpt.so
	install -m 0644 libpt.a $(DESTDIR)$(LIBDIR)/libpt.a
	install -m 0644 libpt-lua.a $(DESTDIR)$(LIBDIR)/libpt-lua.a
	install -m 0644 include/libpt.h $(DESTDIR)$(INCLUDEDIR)/libpt.h
	install -d $(DESTDIR)$(INCLUDEDIR)/libpt
	install -m 0644 $(wildcard include/libpt/*.h) $(DESTDIR)$(INCLUDEDIR)/libpt/
	install -m 0644 lua/pt-lua.h $(DESTDIR)$(INCLUDEDIR)/pt-lua.h
	$(MAKE_PC) > $(DESTDIR)$(PKGCONFIGDIR)/libpt.pc
	install -m 0755 lua/ptlua $(DESTDIR)$(BINDIR)/ptlua
	install -m 0755 lua/pt.so $(DESTDIR)$(LUA_CMOD_DIR)/pt.so
	install -m 0644 $(LUA_MODULES) $(DESTDIR)$(LUADIR)/pt/
	for m in $(notdir $(LUA_MODULES)); do \
		./lua/ptlua --trusted lua/luac.lua lua/pt/$$m $(DESTDIR)$(LUADIR)/pt/$${m%.lua}.luac \
			$(LUADIR)/pt/$$m $$([ $$m = recipe.lua ] && echo strip) || exit 1; \
		chmod 0644 $(DESTDIR)$(LUADIR)/pt/$${m%.lua}.luac; done
	# Recipes executable, their shebang the installed ptlua's absolute path: Proxmox runs a
	# hookscript only when it is executable, under PATH=/sbin:/bin:/usr/sbin:/usr/bin, where
	# "env ptlua" finds nothing in /usr/local/bin.
	for s in $(notdir $(SCRIPTS)); do \
		sed -e '1s|^#!/usr/bin/env ptlua$$|#!$(BINDIR)/ptlua|' scripts/$$s > $(DESTDIR)$(SCRIPTDIR)/$$s \
			&& chmod 0755 $(DESTDIR)$(SCRIPTDIR)/$$s || exit 1; done
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in $(notdir $(UNITS)); do \
		sed -e 's|@BINDIR@|$(BINDIR)|' -e 's|@SCRIPTDIR@|$(SCRIPTDIR)|' scripts/$$u \
			> $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libpt.so
	rm -f $(DESTDIR)$(LIBDIR)/libpt.a $(DESTDIR)$(LIBDIR)/libpt-lua.a $(DESTDIR)$(INCLUDEDIR)/libpt.h $(DESTDIR)$(INCLUDEDIR)/pt-lua.h
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/libpt/,$(notdir $(wildcard include/libpt/*.h)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/libpt 2>/dev/null
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/libpt.pc $(DESTDIR)$(BINDIR)/ptlua
	rm -f $(DESTDIR)$(LUA_CMOD_DIR)/pt.so $(DESTDIR)$(MANDIR)/man1/ptlua.1 $(DESTDIR)$(MANDIR)/man3/libpt.3
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(wildcard libpt/man/*.3)))
	rm -f $(addprefix $(DESTDIR)$(LUADIR)/pt/,$(notdir $(LUA_MODULES) $(LUA_BYTECODE)))
	rm -f $(addprefix $(DESTDIR)$(SCRIPTDIR)/,$(notdir $(SCRIPTS)))
	rm -f $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(notdir $(UNITS)))
	-rmdir $(DESTDIR)$(LUADIR)/pt $(DESTDIR)$(LUADIR) $(DESTDIR)$(SCRIPTDIR) $(DESTDIR)$(DATADIR) 2>/dev/null

# make deb: the Debian packages libpt0, libpt-dev, lua-pt and ptlua (debian/), built from a copy
# of the working tree's files (tracked ones with their edits, and new ones git does not ignore)
# in build/deb/libpt-$(VERSION), so the build tree here is left alone; the .deb files go to build/deb.
DEB_DIR = build/deb
DEB_PARALLEL ?= 2

deps-deb:
	$(call install_deps,$(BUILD_DEPS) $(DEB_DEPS))

deb: deps-deb
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/libpt-$(VERSION)
	$(Q)git ls-files -z --cached --others --exclude-standard \
		| while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done \
		| xargs -0 cp -P --parents -t $(DEB_DIR)/libpt-$(VERSION)
	$(Q)cd $(DEB_DIR)/libpt-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -us -uc -b -J$(DEB_PARALLEL)
	$(Q)ls $(DEB_DIR)/*.deb

clean:
	rm -rf build libpt.so* libpt.a libpt-lua.a libpt.pc lua/pt.so lua/ptlua $(LUA_BYTECODE)

# make fuzz: libFuzzer targets (Debian's clang) for every parser, FUZZ_SECONDS each (tests/fuzz).
# A crash is saved as build/fuzz/crash-TARGET-*; copied into tests/fuzz/regressions/TARGET/ it
# is replayed by make check from then on.
FUZZ_TARGETS = strings files lua qmp
FUZZ_SECONDS ?= 10
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	$(PT_CPPFLAGS) $(PT_CFLAGS) $(LUA_CFLAGS) -DFUZZ_LUA_PATH='"$(CURDIR)/lua/?.lua"'
FUZZ_LIB_OBJ = $(LIB_SRC:libpt/%.c=build/fuzz/%.o)
FUZZ_LUA_OBJ = $(LUA_OBJ:build/lua-%.o=build/fuzz/lua-%.o)

build/fuzz/%.o: libpt/%.c libpt/libpt-private.h $(wildcard libpt/*/*.h) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/lua-%.o: lua/%.c lua/pt-lua.h lua/pt-lua-private.h lua/json.h $(PUBLIC_HEADERS)
	@mkdir -p build/fuzz
	$(Q)clang $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ) $(FUZZ_LUA_OBJ)
	@[ "$(V)" = 1 ] || echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LUA_OBJ) $(FUZZ_LIB_OBJ) \
		$(LUA_LIBS) $(PCI_LIBS) -lm -ldl

.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_LUA_OBJ)

# make check's replay of the fuzz targets over their corpora and regressions (tests/fuzz/replay.c
# in place of libFuzzer), under ASan and UBSan with the project's compiler: the library's objects
# are compiled once for every target, and again only when a source changes.
REPLAY_CFLAGS = -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
	-DPT_LUADIR='"$(CURDIR)/lua"' -DPT_SCRIPTDIR='"$(CURDIR)/scripts"' -DFUZZ_LUA_PATH='"$(CURDIR)/lua/?.lua"' \
	$(PT_CFLAGS) $(LUA_CFLAGS)
REPLAY_LIB_OBJ = $(LIB_SRC:libpt/%.c=build/replay/%.o)
REPLAY_LUA_OBJ = $(LUA_OBJ:build/lua-%.o=build/replay/lua-%.o)

build/replay/%.o: libpt/%.c libpt/libpt-private.h $(wildcard libpt/*/*.h) $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(REPLAY_CFLAGS) -c -o $@ $<

build/replay/lua-%.o: lua/%.c lua/pt-lua.h lua/pt-lua-private.h lua/json.h $(PUBLIC_HEADERS)
	@mkdir -p build/replay
	$(Q)$(CC) $(REPLAY_CFLAGS) -c -o $@ $<

build/replay/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(REPLAY_LIB_OBJ) $(REPLAY_LUA_OBJ)
	@[ "$(V)" = 1 ] || echo "  REPLAY  $@"
	$(Q)$(CC) $(REPLAY_CFLAGS) -o $@ $< tests/fuzz/replay.c $(REPLAY_LUA_OBJ) $(REPLAY_LIB_OBJ) \
		$(LUA_LIBS) $(PCI_LIBS) -lm -ldl

.SECONDARY: $(REPLAY_LIB_OBJ) $(REPLAY_LUA_OBJ)

replay: $(FUZZ_TARGETS:%=build/replay/replay_%)

fuzz: deps-check $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		ASAN_OPTIONS=detect_leaks=0 ./build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-print_final_stats=1 -artifact_prefix=build/fuzz/crash-$$t- \
			build/fuzz/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | grep -E '^(stat::number_of_executed_units|==[0-9]+==|SUMMARY|artifact)' ; \
		[ $${PIPESTATUS[0]} = 0 ] || { echo "fuzz $$t: a crash, saved under build/fuzz/"; exit 1; }; \
	done

.PHONY: FORCE all demo check check-kernel bench install uninstall clean deps-demo deps-check fuzz replay deb deps-deb abi-check abi-baseline
