# vxts: dm-vxts kernel target + vxts userspace engine.
#
#   make setup        install every dependency (Debian 12, root) and build
#   make              build the module (against Debian's 6.12 headers) and userspace
#   make test         the whole suite: unit, crash, KUnit, VM; ends "N passed, N failed"
#   make test-unit | test-cli | test-crash | test-keys | test-pkg | test-fuzz | test-kunit | test-vm
#   make fuzz         the header/keyslot fuzzer for 10 minutes
#   make modules-6.1  check that the module still builds against bookworm's 6.1
#   make demo         the main job on an embedded default (see README)
#   make install      CLI, man pages, units, docs, module via DKMS (make uninstall; docs/INSTALL.md)
#   make deb          the vxts and vxts-dkms Debian packages in build/deb/
#   make bench        side-by-side benchmarks, ~35 min; results in docs/benchmarks/
#                     (BENCH_SHORT=1: smoke run, ~4 min on a loaded machine; see bench/README.md)
#   make test-bench   the smoke run plus checks of its output (tests/bench)

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build

# Debian kernel versions installed by `make setup` (newest of each series).
# Not exported: on a fresh machine make starts before setup has installed the
# kernels, and an exported empty KVER would reach the sub-make that builds
# after setup (and the test runners, which look the kernels up themselves).
# A KVER given on the command line or in the environment is passed on as usual.
KVER ?= $(shell ls /lib/modules 2>/dev/null | grep '^6\.12\.' | sort -V | tail -n 1)
KVER_61 ?= $(shell ls /lib/modules 2>/dev/null | grep '^6\.1\.' | sort -V | tail -n 1)
KDIR ?= /lib/modules/$(KVER)/build
KDIR_61 ?= /lib/modules/$(KVER_61)/build

# `make setup` is re-run automatically when scripts/setup.sh changes.
SETUP_STAMP := $(BUILD)/.setup-$(shell sha1sum scripts/setup.sh 2>/dev/null | cut -c1-12)

.PHONY: all modules modules-6.1 userspace setup setup-if-needed test test-unit \
	test-cli test-crash test-kunit test-vm test-bench test-keys test-pkg test-fuzz fuzz demo bench clean

all: modules userspace

modules:
	@test -d "$(KDIR)" || { echo "no kernel headers at $(KDIR): run 'make setup'" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(TOP) W=1 modules

# Build a copy of the sources against 6.1 so the 6.12 objects stay untouched.
modules-6.1:
	@test -d "$(KDIR_61)" || { echo "no 6.1 headers at $(KDIR_61): run 'make setup'" >&2; exit 1; }
	rm -rf $(BUILD)/kmod-6.1 && mkdir -p $(BUILD)/kmod-6.1
	cp -r Kbuild kmod $(BUILD)/kmod-6.1/
	$(MAKE) -C $(KDIR_61) M=$(BUILD)/kmod-6.1 W=1 modules

userspace:
	$(MAKE) -C userspace

setup:
	bash scripts/setup.sh
	$(MAKE) all
	mkdir -p $(BUILD) && rm -f $(BUILD)/.setup-* && touch $(SETUP_STAMP)

setup-if-needed:
	@if [ ! -e $(SETUP_STAMP) ]; then $(MAKE) setup; else $(MAKE) all; fi

test: setup-if-needed
	tests/run.sh unit cli crash keys pkg fuzz kunit vm bench

test-unit: setup-if-needed
	tests/run.sh unit
test-cli: setup-if-needed
	tests/run.sh cli
test-crash: setup-if-needed
	tests/run.sh crash
test-kunit: setup-if-needed
	tests/run.sh kunit
test-vm: setup-if-needed
	tests/run.sh vm
test-keys: setup-if-needed
	tests/run.sh keys
test-pkg: setup-if-needed
	tests/run.sh pkg
test-fuzz: setup-if-needed
	tests/run.sh fuzz
# the header/keyslot fuzzer for 10 minutes (make test runs it for 60 s)
fuzz: setup-if-needed
	VXTS_FUZZ_SECONDS=$${VXTS_FUZZ_SECONDS:-600} tests/run.sh fuzz
test-bench: setup-if-needed
	tests/run.sh bench

demo: setup-if-needed
	demo/run.sh

bench: setup-if-needed
	bench/run.sh

# ---- install, DKMS, Debian package --------------------------------------
# `make install` [PREFIX=/usr] [DESTDIR=dir] [KVER=kernel] [DKMS=0]: the CLI,
# man pages, systemd units and generator (their /usr/sbin/vxts becomes
# $(SBINDIR)/vxts), docs, and the module's DKMS source
# tree in $(DKMS_SRCDIR)/vxts-$(VERSION). With DESTDIR empty and DKMS=1 the
# module is also added, built and installed through dkms for KVER (default:
# the running kernel). `make uninstall` removes the same files. Both refuse
# to touch files the vxts Debian package owns unless FORCE=1. See
# docs/INSTALL.md. DKMS_FLAGS passes extra dkms options (tests/pkg uses it
# for private --dkmstree/--sourcetree/--installtree).
VERSION := $(shell cat $(TOP)/VERSION)
PREFIX ?= /usr
DESTDIR ?=
DKMS ?= 1
DKMS_FLAGS ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/vxts
DKMS_SRCDIR ?= /usr/src
SYSTEMD_UNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
SYSTEMD_GENDIR ?= $(or $(shell pkg-config --variable=systemdsystemgeneratordir systemd 2>/dev/null),/lib/systemd/system-generators)
# The kernel dkms builds for: KVER when given on the command line or in the
# environment, else the running kernel (not the Makefile's 6.12 default).
INSTALL_KVER := $(if $(filter command line environment,$(origin KVER)),$(KVER),$(shell uname -r))

# What the module needs, and nothing else (no objects, no *.mod.c).
DKMS_FILES := Kbuild kmod/Kbuild $(sort $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h))
DKMS_STAGE := $(BUILD)/dkms-src/vxts-$(VERSION)
MAN8 := $(wildcard man/*.8)
MAN5 := $(wildcard man/*.5)
UNITS := $(wildcard systemd/*.service systemd/*.target systemd/*.mount systemd/*.timer)
GENERATOR := $(wildcard systemd/vxts-generator)
DOCS := README.md $(wildcard docs/*.md)
EXAMPLES := $(wildcard systemd/vxtstab.example)
KMS_EXAMPLES := $(wildcard examples/kms/*)

.PHONY: dkms-src install install-files install-dkms uninstall deb

# The .deb (debian/) owns the same paths and the same dkms vxts/$(VERSION):
# `make install` over it would overwrite files dpkg tracks, `make uninstall`
# would delete them (and the package's dkms module). With DESTDIR empty both
# refuse when dpkg owns $(SBINDIR)/vxts or the DKMS source tree, unless
# FORCE=1. $(1): the target's name, for the message.
define dpkg_guard
	@if [ -z "$(DESTDIR)" ] && [ "$(FORCE)" != 1 ] && command -v dpkg-query > /dev/null && \
	    owner=$$(dpkg-query -S $(SBINDIR)/vxts $(DKMS_SRCDIR)/vxts-$(VERSION) 2> /dev/null | head -n 1) && \
	    [ -n "$$owner" ]; then \
		echo "$(1): the Debian package owns these files ($$owner): use apt-get (install the new .deb, or remove vxts vxts-dkms first), install elsewhere with PREFIX=/usr/local DKMS=0, or override with FORCE=1 (docs/INSTALL.md)" >&2; \
		exit 1; fi
endef

# The DKMS source tree, staged in build/ with the version filled in.
dkms-src:
	rm -rf $(BUILD)/dkms-src && mkdir -p $(DKMS_STAGE)
	cp --parents $(DKMS_FILES) $(DKMS_STAGE)/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf > $(DKMS_STAGE)/dkms.conf

install: install-files
	@if [ -z "$(DESTDIR)" ] && [ "$(DKMS)" != 0 ]; then $(MAKE) --no-print-directory install-dkms INSTALL_KVER=$(INSTALL_KVER); \
	else echo "install: dkms step skipped ($(if $(DESTDIR),DESTDIR set,DKMS=0)); source in $(DESTDIR)$(DKMS_SRCDIR)/vxts-$(VERSION)"; fi

install-files: dkms-src
	$(call dpkg_guard,install)
	$(MAKE) -C userspace $(BUILD)/vxts
	install -D -m 0755 $(BUILD)/vxts $(DESTDIR)$(SBINDIR)/vxts
	$(if $(MAN8),install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man8 $(MAN8))
	$(if $(MAN5),install -D -m 0644 -t $(DESTDIR)$(MANDIR)/man5 $(MAN5))
	mkdir -p $(DESTDIR)$(SYSTEMD_UNITDIR) $(DESTDIR)$(SYSTEMD_GENDIR)
	for f in $(UNITS) $(GENERATOR); do \
		case $$f in *-generator) d=$(SYSTEMD_GENDIR) m=0755 ;; *) d=$(SYSTEMD_UNITDIR) m=0644 ;; esac; \
		sed 's|/usr/sbin/vxts\b|$(SBINDIR)/vxts|g' $$f > $(DESTDIR)$$d/$${f##*/} && chmod $$m $(DESTDIR)$$d/$${f##*/} || exit 1; \
	done
	install -D -m 0644 -t $(DESTDIR)$(DOCDIR) $(DOCS)
	$(if $(EXAMPLES),install -D -m 0644 -t $(DESTDIR)$(DOCDIR)/examples $(EXAMPLES))
	$(if $(KMS_EXAMPLES),install -D -m 0644 -t $(DESTDIR)$(DOCDIR)/examples/kms $(KMS_EXAMPLES))
	rm -rf $(DESTDIR)$(DKMS_SRCDIR)/vxts-$(VERSION)
	mkdir -p $(DESTDIR)$(DKMS_SRCDIR)
	cp -r $(DKMS_STAGE) $(DESTDIR)$(DKMS_SRCDIR)/
	@echo "install: /etc/vxtstab is not created or changed; example: $(DOCDIR)/examples"

# dkms add/build/install for INSTALL_KVER; re-running replaces an earlier
# registration of the same version.
install-dkms:
	@command -v dkms > /dev/null || { echo "install: dkms not found: apt-get install dkms, or skip the module with DKMS=0" >&2; exit 1; }
	@test -d /lib/modules/$(INSTALL_KVER)/build || { echo "install: no kernel headers for $(INSTALL_KVER) at /lib/modules/$(INSTALL_KVER)/build: apt-get install linux-headers-$(INSTALL_KVER), pick another kernel with KVER=..., or skip the module with DKMS=0" >&2; exit 1; }
	if dkms status $(DKMS_FLAGS) -m vxts -v $(VERSION) | grep -q .; then dkms remove $(DKMS_FLAGS) vxts/$(VERSION) --all; fi
	dkms add $(DKMS_FLAGS) vxts/$(VERSION)
	dkms build $(DKMS_FLAGS) vxts/$(VERSION) -k $(INSTALL_KVER)
	dkms install $(DKMS_FLAGS) vxts/$(VERSION) -k $(INSTALL_KVER)

uninstall:
	$(call dpkg_guard,uninstall)
	@if [ -z "$(DESTDIR)" ] && [ "$(DKMS)" != 0 ] && command -v dkms > /dev/null && \
	    dkms status $(DKMS_FLAGS) -m vxts -v $(VERSION) | grep -q .; then \
		echo "dkms remove $(DKMS_FLAGS) vxts/$(VERSION) --all"; \
		dkms remove $(DKMS_FLAGS) vxts/$(VERSION) --all || exit 1; fi
	rm -f $(DESTDIR)$(SBINDIR)/vxts
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))
	rm -f $(addprefix $(DESTDIR)$(SYSTEMD_UNITDIR)/,$(notdir $(UNITS))) $(addprefix $(DESTDIR)$(SYSTEMD_GENDIR)/,$(notdir $(GENERATOR)))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS))) $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES)))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/examples/kms/,$(notdir $(KMS_EXAMPLES)))
	-rmdir $(DESTDIR)$(DOCDIR)/examples/kms $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2> /dev/null
	rm -rf $(DESTDIR)$(DKMS_SRCDIR)/vxts-$(VERSION)

# The .deb files, built by dpkg-buildpackage in a copy of the committed and
# working-tree sources (build/deb/), so this tree stays clean; see debian/.
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/vxts-$(VERSION)
	git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' | \
		rsync -a --from0 --ignore-missing-args --files-from=- ./ $(BUILD)/deb/vxts-$(VERSION)/
	cd $(BUILD)/deb/vxts-$(VERSION) && dpkg-buildpackage -b -us -uc $(DEB_FLAGS)
	@ls -1 $(BUILD)/deb/*.deb

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean
	-$(MAKE) -C userspace clean
	rm -rf $(BUILD)
