# vxts: dm-vxts kernel target + vxts userspace engine.
#
#   make setup        install every dependency (Debian 12, root) and build
#   make              build the module (against Debian's 6.12 headers) and userspace
#   make test         the whole suite: unit, crash, KUnit, VM; ends "N passed, N failed"
#   make test-unit | test-cli | test-crash | test-keys | test-pkg | test-fuzz | test-kunit | test-vm
#   make fuzz         the header/keyslot fuzzer for 10 minutes
#   make modules-6.1  check that the module still builds against bookworm's 6.1
#   make demo         the main job on an embedded default (see README)
#   make bench        side-by-side benchmarks, ~35 min; results in docs/benchmarks/
#                     (BENCH_SHORT=1: smoke run, ~4 min on a loaded machine; see bench/README.md)
#   make test-bench   the smoke run plus checks of its output (tests/bench)

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build

# Debian kernel versions installed by `make setup` (newest of each series).
KVER ?= $(shell ls /lib/modules 2>/dev/null | grep '^6\.12\.' | sort -V | tail -n 1)
KVER_61 ?= $(shell ls /lib/modules 2>/dev/null | grep '^6\.1\.' | sort -V | tail -n 1)
KDIR ?= /lib/modules/$(KVER)/build
KDIR_61 ?= /lib/modules/$(KVER_61)/build
export KVER KVER_61 KDIR KDIR_61

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

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean
	-$(MAKE) -C userspace clean
	rm -rf $(BUILD)
