# The front door. `make` builds the release library and header; `make test` runs everything CI
# runs; `make demo` starts a real cluster; `make install PREFIX=...` installs.

PREFIX    ?= /usr/local
CARGO     ?= cargo
CC        ?= gcc
PYTHON    ?= python3
CBINDGEN_VERSION := 0.29.4
SEEDS     ?= 10000

BUILD     := build
PROFILE   ?= debug
# Honours CARGO_TARGET_DIR, so that several worktrees can keep separate build directories.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
LIBDIR    := $(TARGET_DIR)/$(PROFILE)
RELDIR    := $(TARGET_DIR)/release
# C-Raft 0.22.1 built from source by scripts/build-craft.sh (make test-craft, bench-net-uv).
CRAFT_PREFIX ?= /work/craft-0.22.1
CFLAGS_COMMON := -std=c11 -Wall -Wextra -Werror -g -Iinclude -Ic_tests
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
VALGRIND  := valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
             --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1

C_TEST_SRCS := $(sort $(wildcard c_tests/test_*.c))
C_TESTS     := $(patsubst c_tests/%.c,%,$(C_TEST_SRCS))
C_SUPPORT   := $(sort $(wildcard c_tests/support/*.c))
C_HEADERS   := $(wildcard c_tests/*.h c_tests/support/*.h) include/raft.h

export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all lib header cbindgen-tool check-header deps test test-rust lint test-c test-c-plain test-c-asan \
        test-c-valgrind test-python test-wolf wolf-node test-fuzz fuzz install clean soak soak-classic \
        examples demo bench test-interop bench-net test-install test-python-package test-craft-node-on-rs

all: lib header

lib:
	$(CARGO) build --release
	ln -sf libraft.so $(RELDIR)/libraft.so.0

# cbindgen is the one tool `make` itself needs beyond cargo and a C compiler.
cbindgen-tool:
	@command -v cbindgen >/dev/null && [ "$$(cbindgen --version | awk '{print $$2}')" = "$(CBINDGEN_VERSION)" ] || \
	  $(CARGO) install --quiet --locked cbindgen --version $(CBINDGEN_VERSION)

header: cbindgen-tool
	cbindgen -q --config cbindgen.toml --crate libraft-rs -o include/raft.h
	cbindgen -q --config cbindgen-uv.toml -o include/raft/uv.h src/ffi/uv/abi.rs
	cbindgen -q --config cbindgen-fixture.toml -o include/raft/fixture.h src/ffi/fixture/abi.rs

check-header: cbindgen-tool
	@mkdir -p $(BUILD)
	cbindgen -q --config cbindgen.toml --crate libraft-rs -o $(BUILD)/raft.h.fresh
	@diff -u include/raft.h $(BUILD)/raft.h.fresh || \
	  (echo "include/raft.h is stale: run 'make header' and commit it" >&2; exit 1)
	@echo "include/raft.h matches a fresh generation"
	cbindgen -q --config cbindgen-uv.toml -o $(BUILD)/uv.h.fresh src/ffi/uv/abi.rs
	@diff -u include/raft/uv.h $(BUILD)/uv.h.fresh || \
	  (echo "include/raft/uv.h is stale: run 'make header' and commit it" >&2; exit 1)
	@! grep -n 'raft_uv' include/raft.h || \
	  (echo "include/raft.h must not declare raft_uv symbols (they belong to raft/uv.h)" >&2; exit 1)
	@echo "include/raft/uv.h matches a fresh generation"
	cbindgen -q --config cbindgen-fixture.toml -o $(BUILD)/fixture.h.fresh src/ffi/fixture/abi.rs
	@diff -u include/raft/fixture.h $(BUILD)/fixture.h.fresh || \
	  (echo "include/raft/fixture.h is stale: run 'make header' and commit it" >&2; exit 1)
	@! grep -n 'raft_fixture' include/raft.h || \
	  (echo "include/raft.h must not declare raft_fixture symbols (raft/fixture.h has them)" >&2; exit 1)
	@echo "include/raft/fixture.h matches a fresh generation"

# Installs what a fresh Debian machine lacks; does nothing when everything is there.
deps:
	@bash .ci/deps.sh $(CBINDGEN_VERSION)

test: deps test-rust lint check-header test-c test-classic-craft015 test-classic examples-classic example-classic-craft015 test-uv test-uv-diff test-python test-python-package test-install examples test-interop test-linearizability test-snapshot-stream test-fixture test-fixture-diff test-craft-node-on-rs test-wolf test-fuzz
	@echo "make test: all passed"

test-rust:
	$(CARGO) test --quiet

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --quiet -- -D warnings

# --- C tests: plain, AddressSanitizer + UBSan, valgrind --------------------------------------

# The library carries the soname libraft.so.0; the link beside it lets test binaries load it.
$(LIBDIR)/libraft.so: $(shell find src -name '*.rs') Cargo.toml build.rs
	$(CARGO) build $(if $(filter release,$(PROFILE)),--release,)
	ln -sf libraft.so $(LIBDIR)/libraft.so.0

$(BUILD)/plain/%: c_tests/%.c $(C_SUPPORT) $(C_HEADERS) $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O1 -o $@ $< $(C_SUPPORT) -L$(LIBDIR) -lraft $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))

$(BUILD)/asan/%: c_tests/%.c $(C_SUPPORT) $(C_HEADERS) $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -O1 $(ASAN_FLAGS) -o $@ $< $(C_SUPPORT) -L$(LIBDIR) -lraft $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))

test-c: test-c-plain test-c-asan test-c-valgrind

test-c-plain: $(addprefix $(BUILD)/plain/,$(C_TESTS))
	@set -e; for t in $^; do echo "== $$t"; $$t; done

test-c-asan: $(addprefix $(BUILD)/asan/,$(C_TESTS))
	@set -e; for t in $^; do echo "== $$t (asan+ubsan)"; \
	  ASAN_OPTIONS=detect_leaks=1 RAFT_TEST_QUICK=1 $$t; done

test-c-valgrind: $(addprefix $(BUILD)/plain/,$(C_TESTS))
	@set -e; for t in $^; do echo "== $$t (valgrind)"; RAFT_TEST_QUICK=1 $(VALGRIND) $$t; done

# --- Classic API (raft_io / raft_fsm) tests: c_tests/classic, compiled twice ----------------
# The same sources against C-Raft 0.15 (system raft.h, libraft.so.2; never -Iinclude) and against
# our include/raft.h and library with ON_LIBRAFT_RS defined (tests where C-Raft asserts on bad
# input run only there). Both are in `make test`.

CLASSIC_SRCS    := $(sort $(wildcard c_tests/classic/test_*.c))
CLASSIC_TESTS   := $(patsubst c_tests/classic/%.c,%,$(CLASSIC_SRCS))
CLASSIC_SUPPORT := $(sort $(wildcard c_tests/classic/support/*.c))
CLASSIC_HEADERS := $(wildcard c_tests/classic/support/*.h)
CLASSIC_CFLAGS  := -std=c11 -Wall -Wextra -Werror -g -O1 -Ic_tests/classic/support

$(BUILD)/classic-craft015/plain/%: c_tests/classic/%.c $(CLASSIC_SUPPORT) $(CLASSIC_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_CFLAGS) -o $@ $< $(CLASSIC_SUPPORT) -l:libraft.so.2 $(CMOCKA_LIBS)

$(BUILD)/classic-craft015/asan/%: c_tests/classic/%.c $(CLASSIC_SUPPORT) $(CLASSIC_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_CFLAGS) $(ASAN_FLAGS) -o $@ $< $(CLASSIC_SUPPORT) -l:libraft.so.2 $(CMOCKA_LIBS)

$(BUILD)/classic/plain/%: c_tests/classic/%.c $(CLASSIC_SUPPORT) $(CLASSIC_HEADERS) include/raft.h $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_CFLAGS) -DON_LIBRAFT_RS -Iinclude -o $@ $< $(CLASSIC_SUPPORT) -L$(LIBDIR) -lraft $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))

$(BUILD)/classic/asan/%: c_tests/classic/%.c $(CLASSIC_SUPPORT) $(CLASSIC_HEADERS) include/raft.h $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_CFLAGS) $(ASAN_FLAGS) -DON_LIBRAFT_RS -Iinclude -o $@ $< $(CLASSIC_SUPPORT) -L$(LIBDIR) -lraft $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))

.PHONY: test-classic-craft015 test-classic
# C-Raft 0.15: plain, ASan+UBSan (memio and the tests' own memory), valgrind. One leak of
# C-Raft 0.15 itself is suppressed, scoped to the test that triggers it (craft015.supp/.lsan).
test-classic-craft015: $(addprefix $(BUILD)/classic-craft015/plain/,$(CLASSIC_TESTS)) \
                       $(addprefix $(BUILD)/classic-craft015/asan/,$(CLASSIC_TESTS))
	@set -e; for t in $(CLASSIC_TESTS); do \
	  echo "== $$t (C-Raft 0.15)"; $(BUILD)/classic-craft015/plain/$$t; \
	  echo "== $$t (C-Raft 0.15, asan+ubsan)"; ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 \
	    LSAN_OPTIONS=suppressions=$(abspath c_tests/classic/craft015.lsan):print_suppressions=0 \
	    $(BUILD)/classic-craft015/asan/$$t; \
	  echo "== $$t (C-Raft 0.15, valgrind)"; $(VALGRIND) --num-callers=50 \
	    --suppressions=c_tests/classic/craft015.supp $(BUILD)/classic-craft015/plain/$$t; done

# Ours: plain, ASan+UBSan, valgrind, like test-c.
test-classic: $(addprefix $(BUILD)/classic/plain/,$(CLASSIC_TESTS)) \
              $(addprefix $(BUILD)/classic/asan/,$(CLASSIC_TESTS))
	@set -e; for t in $(CLASSIC_TESTS); do \
	  echo "== $$t"; $(BUILD)/classic/plain/$$t; \
	  echo "== $$t (asan+ubsan)"; ASAN_OPTIONS=detect_leaks=1 $(BUILD)/classic/asan/$$t; \
	  echo "== $$t (valgrind)"; $(VALGRIND) $(BUILD)/classic/plain/$$t; done

# --- raft/fixture.h (c_tests/fixture): the test cluster, and the same program on both libraries --
# test_fixture.c: every function through the installed headers only (plain, ASan+UBSan,
# valgrind). fixture_diff.c: scenarios printing what both libraries promise, built against
# Debian's C-Raft 0.15 (system headers, libraft.so.2) and against ours; the outputs must match.

FIXTURE_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O1 -Ic_tests/fixture
FIXTURE_DEPS   := c_tests/fixture/fsm.h include/raft.h include/raft/fixture.h $(LIBDIR)/libraft.so
.PHONY: test-fixture test-fixture-diff

$(BUILD)/fixture/plain/test_fixture: c_tests/fixture/test_fixture.c $(FIXTURE_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(FIXTURE_CFLAGS) -Iinclude -o $@ $< -L$(LIBDIR) -lraft $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))

$(BUILD)/fixture/asan/test_fixture: c_tests/fixture/test_fixture.c $(FIXTURE_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(FIXTURE_CFLAGS) $(ASAN_FLAGS) -Iinclude -o $@ $< -L$(LIBDIR) -lraft $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))

test-fixture: $(BUILD)/fixture/plain/test_fixture $(BUILD)/fixture/asan/test_fixture
	$(BUILD)/fixture/plain/test_fixture
	ASAN_OPTIONS=detect_leaks=1 $(BUILD)/fixture/asan/test_fixture
	$(VALGRIND) $(BUILD)/fixture/plain/test_fixture

$(BUILD)/fixture/diff-ours: c_tests/fixture/diff/fixture_diff.c $(FIXTURE_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(FIXTURE_CFLAGS) -DFIXTURE_API_0_22 -Iinclude -o $@ $< -L$(LIBDIR) -lraft -Wl,-rpath,$(abspath $(LIBDIR))

$(BUILD)/fixture/diff-craft015: c_tests/fixture/diff/fixture_diff.c c_tests/fixture/fsm.h
	@mkdir -p $(dir $@)
	$(CC) $(FIXTURE_CFLAGS) -o $@ $< -l:libraft.so.2

test-fixture-diff: $(BUILD)/fixture/diff-ours $(BUILD)/fixture/diff-craft015
	$(BUILD)/fixture/diff-craft015 > $(BUILD)/fixture/diff-craft015.txt
	$(VALGRIND) $(BUILD)/fixture/diff-ours > $(BUILD)/fixture/diff-ours.txt
	diff -u $(BUILD)/fixture/diff-craft015.txt $(BUILD)/fixture/diff-ours.txt
	@echo "fixture: $$(wc -l < $(BUILD)/fixture/diff-ours.txt) observations identical on C-Raft 0.15 and libraft-rs"

# --- raft/uv.h (c_tests/uv): the libuv back-end through include/raft.h and include/raft/uv.h --

UV_SRCS    := $(sort $(wildcard c_tests/uv/test_*.c))
UV_TESTS   := $(patsubst c_tests/uv/%.c,%,$(UV_SRCS))
UV_HEADERS := $(wildcard c_tests/uv/*.h) include/raft.h include/raft/uv.h
UV_CFLAGS  := -std=c11 -Wall -Wextra -Werror -g -O1 -Iinclude
UV_LIBS    := -L$(LIBDIR) -lraft -luv $(CMOCKA_LIBS) -Wl,-rpath,$(abspath $(LIBDIR))
# The C-Raft data directories the tests load.
UV_VECTORS ?= $(abspath tests/vectors/craft-0.15/disk)

$(BUILD)/uv/plain/%: c_tests/uv/%.c $(UV_HEADERS) $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(UV_CFLAGS) -o $@ $< $(UV_LIBS)

$(BUILD)/uv/asan/%: c_tests/uv/%.c $(UV_HEADERS) $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(UV_CFLAGS) $(ASAN_FLAGS) -o $@ $< $(UV_LIBS)

.PHONY: test-uv
test-uv: $(addprefix $(BUILD)/uv/plain/,$(UV_TESTS)) $(addprefix $(BUILD)/uv/asan/,$(UV_TESTS))
	@set -e; for t in $(UV_TESTS); do \
	  echo "== $$t"; UV_VECTORS=$(UV_VECTORS) $(BUILD)/uv/plain/$$t; \
	  echo "== $$t (appends on the thread pool)"; \
	  LIBRAFT_RS_UV_URING=0 UV_VECTORS=$(UV_VECTORS) $(BUILD)/uv/plain/$$t; \
	  echo "== $$t (asan+ubsan)"; UV_VECTORS=$(UV_VECTORS) ASAN_OPTIONS=detect_leaks=1 $(BUILD)/uv/asan/$$t; \
	  echo "== $$t (valgrind)"; UV_VECTORS=$(UV_VECTORS) $(VALGRIND) $(BUILD)/uv/plain/$$t; done

# Data directories written by Debian's C-Raft 0.15 (system headers, libraft.so.2) loaded by us
# and the other way round, with identical dumps (c_tests/uv/diff).
$(BUILD)/uvdiff/uvdir-craft: c_tests/uv/diff/uvdir.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O1 -o $@ $< -l:libraft.so.2 -luv

$(BUILD)/uvdiff/uvdir-ours: c_tests/uv/diff/uvdir.c $(UV_HEADERS) $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(UV_CFLAGS) -o $@ $< -L$(LIBDIR) -lraft -luv -Wl,-rpath,$(abspath $(LIBDIR))

.PHONY: test-uv-diff
test-uv-diff: $(BUILD)/uvdiff/uvdir-craft $(BUILD)/uvdiff/uvdir-ours
	bash c_tests/uv/diff/run.sh $(BUILD)/uvdiff/uvdir-craft $(BUILD)/uvdiff/uvdir-ours

# --- Python ----------------------------------------------------------------------------------

test-python: $(LIBDIR)/libraft.so
	RAFT_LIBRARY=$(abspath $(LIBDIR))/libraft.so $(PYTHON) -m pytest -q python/tests
	RAFT_LIBRARY=$(abspath $(LIBDIR))/libraft.so $(PYTHON) examples/python_cluster.py >/dev/null

# --- The wolf.raft gRPC node (examples/wolf-grpc, its own Cargo package) ---------------------

WOLF        := examples/wolf-grpc
WOLF_TARGET := $(abspath target/wolf-grpc)
WOLF_CARGO  := --manifest-path $(WOLF)/Cargo.toml --target-dir $(WOLF_TARGET)

wolf-node:
	$(CARGO) build --quiet $(WOLF_CARGO)

# Lint and unit tests of the node, then three nodes on loopback driven by a Python gRPC client.
test-wolf: wolf-node
	$(CARGO) fmt --check --manifest-path $(WOLF)/Cargo.toml
	$(CARGO) clippy --all-targets --quiet $(WOLF_CARGO) -- -D warnings
	$(CARGO) test --quiet $(WOLF_CARGO)
	WOLF_GRPC_BIN=$(WOLF_TARGET)/debug/wolf-grpc $(PYTHON) -m pytest -q $(WOLF)/tests

# --- Fuzzing (cargo-fuzz: nightly only) --------------------------------------------------------

FUZZ_SECONDS       ?= 60
FUZZ_QUICK_SECONDS ?= 10
# Sanitizer flags force a full rebuild: keep it apart from the stable build.
FUZZ_TARGET_DIR    ?= $(abspath $(TARGET_DIR))/fuzz

fuzz:
	FUZZ_TARGET_DIR=$(FUZZ_TARGET_DIR) fuzz/run.sh $(FUZZ_SECONDS)

# A short run of every target where the tools exist (`make deps` installs them). This never
# installs anything: when nightly or cargo-fuzz is missing it says why it skips. The stable
# replay of the same harnesses always runs in `cargo test`.
test-fuzz:
	@if ! $(CARGO) +nightly --version >/dev/null 2>&1; then \
	  echo "test-fuzz: skipped: no nightly toolchain (cargo +nightly); the stable mutation harness ran in cargo test"; \
	elif ! $(CARGO) fuzz --version >/dev/null 2>&1; then \
	  echo "test-fuzz: skipped: cargo-fuzz is not installed; the stable mutation harness ran in cargo test"; \
	else \
	  FUZZ_TARGET_DIR=$(FUZZ_TARGET_DIR) fuzz/run.sh $(FUZZ_QUICK_SECONDS); \
	fi

# --- Benchmarks (release library; see BENCHMARKS.md) -------------------------------------------

BENCH_SUPPORT := $(filter c_tests/support/sim%.c,$(C_SUPPORT))
BENCH_CFLAGS  := -std=c11 -Wall -Wextra -Werror -O2 -g -Iinclude -Ic_tests

$(BUILD)/bench/%: c_bench/%.c $(BENCH_SUPPORT) $(C_HEADERS) lib
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_SUPPORT) -L$(RELDIR) -lraft -Wl,-rpath,$(abspath $(RELDIR))

# Throughput, allocations and memory of simulated clusters, then the scaling figures (wall
# clock and callgrind instruction counts). Every figure is one "name value" line on stdout and
# in $(BUILD)/bench/results.txt.
bench: deps $(BUILD)/bench/bench $(BUILD)/bench/scaling $(BUILD)/bench/snapshot_stream
	@rm -f $(BUILD)/bench/results.txt
	$(BUILD)/bench/bench $(BUILD)/bench/results.txt
	$(BUILD)/bench/scaling $(BUILD)/bench/results.txt
	@bash c_bench/callgrind.sh $(BUILD)/bench/scaling $(BUILD)/bench/results.txt $(BUILD)/bench/bench
	@$(MAKE) --no-print-directory bench-snapshot-runs
	@echo "make bench: figures in $(BUILD)/bench/results.txt"

# Streamed snapshots (issue 17, docs/snapshots.md): a SNAP_MIB snapshot sent between two
# processes over TCP on loopback, streamed (1 MiB chunks, window 4; 64 KiB, window 8) and whole
# as C-Raft sends it; time, throughput and each side's peak RSS. The whole run needs about
# 6 x SNAP_MIB of memory.
SNAP_MIB ?= 1024
.PHONY: bench-snapshot bench-snapshot-runs
bench-snapshot: deps $(BUILD)/bench/snapshot_stream bench-snapshot-runs
# In make test: the same two processes with a small snapshot, streamed and whole; each run
# fails unless the follower's copy is the leader's byte for byte.
.PHONY: test-snapshot-stream
test-snapshot-stream: deps $(BUILD)/bench/snapshot_stream
	@mkdir -p $(BUILD)/bench/snap-test
	$(BUILD)/bench/snapshot_stream 16 64 4 $(BUILD)/bench/snap-test
	$(BUILD)/bench/snapshot_stream 16 0 1 $(BUILD)/bench/snap-test
bench-snapshot-runs:
	@mkdir -p $(BUILD)/bench/snap
	$(BUILD)/bench/snapshot_stream $(SNAP_MIB) 1024 4 $(BUILD)/bench/snap $(BUILD)/bench/results.txt
	$(BUILD)/bench/snapshot_stream $(SNAP_MIB) 64 8 $(BUILD)/bench/snap $(BUILD)/bench/results.txt
	$(BUILD)/bench/snapshot_stream $(SNAP_MIB) 0 1 $(BUILD)/bench/snap $(BUILD)/bench/results.txt

# --- Model checking (tests/model.rs) ----------------------------------------------------------

# Bounded model checking of the real core with the long bounds of an optimised build, one check
# at a time on one thread (exact breadth-first order). MODEL_DEPTH, MODEL_CRASHES,
# MODEL_COMMANDS, MODEL_CHANGES, MODEL_TERM, MODEL_IN_FLIGHT and MODEL_THREADS override the
# bounds. `cargo test` runs the same checks with short bounds.
.PHONY: model
model:
	nice -n 15 $(CARGO) test --release --test model -- --nocapture --test-threads=1

# --- Long runs -------------------------------------------------------------------------------

soak: $(BUILD)/plain/test_random_cluster
	RAFT_SEEDS=$(SEEDS) $(BUILD)/plain/test_random_cluster

# The classic API's randomized runs (faults, crashes, membership changes), SEEDS of them.
soak-classic: $(BUILD)/plain/test_classic_smoke
	RAFT_CLASSIC_SEEDS=$(SEEDS) $(BUILD)/plain/test_classic_smoke

# --- Install ---------------------------------------------------------------------------------

# As C-Raft installs: raft.h, every raft/*.h there is (uv.h, later fixture.h), the shared
# library under its soname with the development link, the static library when cargo built one,
# and raft.pc. The committed headers are installed as they are (check-header keeps them equal
# to a fresh generation), so installing needs neither cbindgen nor a writable source tree.
RAFT_SUBHEADERS := $(sort $(wildcard include/raft/*.h))
install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/raft $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(RELDIR)/libraft.so $(DESTDIR)$(PREFIX)/lib/libraft.so.0.0.0
	ln -sf libraft.so.0.0.0 $(DESTDIR)$(PREFIX)/lib/libraft.so.0
	ln -sf libraft.so.0 $(DESTDIR)$(PREFIX)/lib/libraft.so
	if [ -f $(RELDIR)/libraft.a ]; then install -m 0644 $(RELDIR)/libraft.a $(DESTDIR)$(PREFIX)/lib/libraft.a; fi
	install -m 0644 include/raft.h $(DESTDIR)$(PREFIX)/include/raft.h
	$(if $(RAFT_SUBHEADERS),install -m 0644 $(RAFT_SUBHEADERS) $(DESTDIR)$(PREFIX)/include/raft/)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e "s|@VERSION@|$$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)|" \
	  raft.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/raft.pc

# `make install` into a staging DESTDIR, then c_tests/install/installed.c built with nothing but
# pkg-config (the sysroot pointed at the stage) and run: once against libraft.so.0, once
# against libraft.a with raft.pc's Libs.private, to show that both halves of raft.pc are right;
# the shared run is under valgrind (the program frees all it made).
STAGE     := $(BUILD)/stage
STAGE_ENV := PKG_CONFIG_SYSROOT_DIR=$(abspath $(STAGE)) PKG_CONFIG_PATH= \
             PKG_CONFIG_LIBDIR=$(abspath $(STAGE))/usr/lib/pkgconfig
test-install:
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(STAGE)) PREFIX=/usr
	bash c_tests/install/check-tree.sh $(STAGE)/usr
	$(STAGE_ENV) sh -c '$(CC) -std=c11 -Wall -Wextra -Werror -o $(STAGE)/installed \
	  c_tests/install/installed.c $$(pkg-config --cflags --libs raft)'
	LD_LIBRARY_PATH=$(abspath $(STAGE))/usr/lib $(VALGRIND) $(STAGE)/installed
	$(STAGE_ENV) sh -c '$(CC) -std=c11 -Wall -Wextra -Werror -o $(STAGE)/installed-static \
	  c_tests/install/installed.c $$(pkg-config --cflags raft) \
	  $$(pkg-config --static --libs raft | sed "s/-lraft\b/-l:libraft.a/")'
	@! readelf -d $(STAGE)/installed-static | grep -q 'libraft\.so' || \
	  (echo "installed-static must not need libraft.so" >&2; exit 1)
	$(STAGE)/installed-static

# The Python package from a clean environment: the library installed under a prefix, the
# package pip-installed into a fresh virtual environment, the suite run against both (the
# library found through pkg-config, never RAFT_LIBRARY).
PYPREFIX := $(BUILD)/python-prefix
PYVENV   := $(BUILD)/python-venv
test-python-package:
	rm -rf $(PYPREFIX) $(PYVENV) python/build python/*.egg-info
	$(MAKE) --no-print-directory install PREFIX=$(abspath $(PYPREFIX))
	$(PYTHON) -m venv --system-site-packages --without-pip $(PYVENV)
	$(PYVENV)/bin/python -m pip install --quiet --no-build-isolation --no-deps ./python
	rm -rf python/build python/*.egg-info
	cd python/tests && env -u RAFT_LIBRARY RAFT_TEST_INSTALLED=1 \
	  PKG_CONFIG_PATH=$(abspath $(PYPREFIX))/lib/pkgconfig \
	  $(abspath $(PYVENV))/bin/python -m pytest -q -p no:cacheprovider .

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

# --- Example host (examples/): a 3-node key-value cluster over C-Raft's TCP protocol ------

EXAMPLE_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O2 -Iinclude
EXAMPLE_NODE_SRCS := $(sort $(wildcard examples/node/*.c))

examples: $(BUILD)/examples/node $(BUILD)/examples/client $(BUILD)/craft/craft-node \
          $(BUILD)/examples/logdump

$(BUILD)/examples/node: $(EXAMPLE_NODE_SRCS) $(wildcard examples/node/*.h) include/raft.h $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(EXAMPLE_CFLAGS) -o $@ $(EXAMPLE_NODE_SRCS) -L$(LIBDIR) -lraft -Wl,-rpath,$(abspath $(LIBDIR))

# The client programs share the node's address helpers (examples/node/address.c).
ADDRESS_SRCS := examples/node/address.c examples/node/address.h

$(BUILD)/examples/client: examples/client.c $(ADDRESS_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(EXAMPLE_CFLAGS) -iquote examples/node -o $@ $< examples/node/address.c

# Starts a 3-node cluster, writes, kills the leader, restarts it, checks the state machines.
demo: deps examples
	BUILD=$(BUILD) bash examples/demo.sh

# --- C-Raft 0.15 counterpart (examples/craft-node) and the interoperability test --------------
# Built against the SYSTEM raft.h and libraft.so.2 (Debian's libraft-dev): never -Iinclude,
# and kept in its own directory so that the two kinds of binaries are never mixed up.

CRAFT_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O2 -iquote examples/node
CRAFT_LIBS   := -l:libraft.so.2 -luv

$(BUILD)/craft/craft-node: examples/craft-node/main.c examples/node/kv.c examples/node/kv.h $(ADDRESS_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(CRAFT_CFLAGS) -o $@ examples/craft-node/main.c examples/node/kv.c examples/node/address.c $(CRAFT_LIBS)

# The same C-Raft program (classic API + raft_uv), compiled against libraft-rs's headers and
# linked to libraft-rs: the interoperability test runs with it in place of C-Raft 0.15.
$(BUILD)/craft-on-rs/craft-node: examples/craft-node/main.c examples/node/kv.c examples/node/kv.h $(ADDRESS_SRCS) $(LIBDIR)/libraft.so include/raft.h include/raft/uv.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O1 -DCRAFT_NODE_ON_LIBRAFT_RS -Iinclude -iquote examples/node \
	  -o $@ examples/craft-node/main.c examples/node/kv.c examples/node/address.c \
	  -L$(LIBDIR) -lraft -luv -Wl,-rpath,$(abspath $(LIBDIR))

test-craft-node-on-rs: deps examples $(BUILD)/craft-on-rs/craft-node
	CRAFT_NODE=$(abspath $(BUILD))/craft-on-rs/craft-node $(PYTHON) examples/interop/test_interop.py --build $(BUILD)

# Dumps a data directory (metadata, snapshot, every entry) through libraft-rs's disk codec.
$(BUILD)/examples/logdump: examples/interop/logdump.c include/raft.h $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(EXAMPLE_CFLAGS) -o $@ $< -L$(LIBDIR) -lraft -Wl,-rpath,$(abspath $(LIBDIR))

# A mixed cluster of libraft-rs and C-Raft 0.15 nodes (examples/interop/test_interop.py).
test-interop: deps examples
	$(PYTHON) examples/interop/test_interop.py --build $(BUILD)

# --- Linearizability (tests/linearizability, docs/reads.md) ----------------------------------
# 3 example nodes behind proxies, 8 clients (PUT/GET on a few keys), a nemesis that kills,
# pauses and isolates the leader; each history checked per key (WGL search, checker.py).
# make test: the checker's own tests and one short run per linearizable read mode. Longer:
# `make linearizability-long LIN_SECONDS=60 LIN_RUNS=5 LIN_READ=index`; `make linearizability-stale` shows
# the test sees stale reads (GET answered from the leader's applied state): it passes when at
# least one of its runs is not linearizable.
.PHONY: test-linearizability test-linearizability-checker linearizability-long linearizability-stale
LIN_RUN := $(PYTHON) tests/linearizability/run.py --node $(BUILD)/examples/node
LIN_SECONDS ?= 60
LIN_RUNS ?= 5
LIN_READ ?= index

test-linearizability-checker:
	cd tests/linearizability && $(PYTHON) -m unittest -q test_checker

test-linearizability: deps test-linearizability-checker $(BUILD)/examples/node
	$(LIN_RUN) --seconds 20 --read index --snapshot-chunk 64 --history $(BUILD)/linearizability-index.json
	$(LIN_RUN) --seconds 15 --read lease --history $(BUILD)/linearizability-lease.json

linearizability-long: deps $(BUILD)/examples/node
	$(LIN_RUN) --seconds $(LIN_SECONDS) --runs $(LIN_RUNS) --read $(LIN_READ) --history $(BUILD)/linearizability.json

linearizability-stale: deps $(BUILD)/examples/node
	$(LIN_RUN) --seconds 30 --runs $(LIN_RUNS) --read stale --expect-violation

# --- Network benchmark (not part of make test; see BENCHMARKS.md) ------------------------------
# 3 nodes of each implementation on loopback under the same closed-loop load; our node is
# linked against the release library.

$(BUILD)/bench/node: $(EXAMPLE_NODE_SRCS) $(wildcard examples/node/*.h) include/raft.h lib
	@mkdir -p $(dir $@)
	$(CC) $(EXAMPLE_CFLAGS) -o $@ $(EXAMPLE_NODE_SRCS) -L$(RELDIR) -lraft -Wl,-rpath,$(abspath $(RELDIR))

$(BUILD)/bench/netbench: examples/bench/netbench.c $(ADDRESS_SRCS)
	@mkdir -p $(dir $@)
	$(CC) $(EXAMPLE_CFLAGS) -iquote examples/node -o $@ $< examples/node/address.c

NET_SECONDS ?= 3
NET_CLIENTS ?= 1,8,32

# raft_uv against C-Raft 0.22.1's (issue 14): examples/craft-node, one C-Raft classic-API
# program, linked to our release library and to C-Raft 0.22.1 built from source (CRAFT_PREFIX).
$(BUILD)/bench/craft-node-rs: examples/craft-node/main.c examples/node/kv.c $(ADDRESS_SRCS) include/raft.h include/raft/uv.h lib
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O2 -DCRAFT_NODE_ON_LIBRAFT_RS -Iinclude -iquote examples/node \
	  -o $@ examples/craft-node/main.c examples/node/kv.c examples/node/address.c \
	  -L$(RELDIR) -lraft -luv -Wl,-rpath,$(abspath $(RELDIR))

$(BUILD)/bench/craft-node-22: examples/craft-node/main.c examples/node/kv.c $(ADDRESS_SRCS) $(CRAFT_PREFIX)/include/raft.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O2 -DCRAFT_NODE_ON_CRAFT_0_22 -I$(CRAFT_PREFIX)/include \
	  -iquote examples/node -o $@ examples/craft-node/main.c examples/node/kv.c examples/node/address.c \
	  -L$(CRAFT_PREFIX)/lib -lraft -luv -Wl,-rpath,$(abspath $(CRAFT_PREFIX))/lib

.PHONY: bench-net-uv bench-net-reads
bench-net-uv: deps $(BUILD)/bench/craft-node-rs $(BUILD)/bench/craft-node-22 $(BUILD)/bench/netbench
	$(PYTHON) examples/bench/bench_net.py --build $(BUILD) --seconds $(NET_SECONDS) \
	  --clients $(NET_CLIENTS) --configs rsuv.fsync,craft22.fsync --out $(BUILD)/bench/net-uv.txt
	@echo "make bench-net-uv: figures in $(BUILD)/bench/net-uv.txt"

# What one durable append costs through the loop thread, libuv's thread pool and io_uring,
# buffered and O_DIRECT (issue 14; c_bench/append_latency.c, liburing from make deps).
.PHONY: bench-append
bench-append: deps $(BUILD)/bench/append_latency-bin
	$(BUILD)/bench/append_latency-bin $(BUILD)/bench
$(BUILD)/bench/append_latency-bin: c_bench/append_latency.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -o $@ $< -luring -luv

# Linearizable reads (issue 16): GET throughput and latency for each --read mode of examples/node.
bench-net-reads: deps $(BUILD)/bench/node $(BUILD)/bench/netbench
	$(PYTHON) examples/bench/bench_net.py --build $(BUILD) --seconds $(NET_SECONDS) \
	  --clients 1,32 --configs rs.fsync.get-index,rs.fsync.get-lease,rs.fsync.get-stale,rs.fsync \
	  --out $(BUILD)/bench/net-reads.txt
	@echo "make bench-net-reads: figures in $(BUILD)/bench/net-reads.txt"

bench-net: deps $(BUILD)/bench/node $(BUILD)/bench/netbench $(BUILD)/craft/craft-node
	$(PYTHON) examples/bench/bench_net.py --build $(BUILD) --seconds $(NET_SECONDS) \
	  --clients $(NET_CLIENTS) --out $(BUILD)/bench/net.txt
	@echo "make bench-net: figures in $(BUILD)/bench/net.txt"

# --- Classic-API example (examples/classic/cluster.c) and the C-Raft 0.22.1 drop-in check ------
# One source, written against C-Raft's classic API only, built against three headers. Each run
# says what it expects of the library: --prompt-callbacks where request callbacks fire as the
# requests complete (ours, C-Raft 0.15); C-Raft 0.22.1 delivers them at raft_close when the
# raft_io is not its own. Every run is under valgrind: the program frees everything it made.

CLASSIC_EXAMPLE := examples/classic/cluster.c
CLASSIC_EXAMPLE_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O1
CRAFT_PREFIX ?= /work/craft-0.22.1

.PHONY: examples-classic example-classic-craft015 test-craft

# Against our include/raft.h and library. Not in `make test` yet (see README).
$(BUILD)/examples/classic-cluster: $(CLASSIC_EXAMPLE) include/raft.h $(LIBDIR)/libraft.so
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_EXAMPLE_CFLAGS) -Iinclude -o $@ $< -L$(LIBDIR) -lraft -Wl,-rpath,$(abspath $(LIBDIR))

examples-classic: $(BUILD)/examples/classic-cluster
	$(VALGRIND) $< --prompt-callbacks

# Against Debian's C-Raft 0.15 (system raft.h, libraft.so.2; never -Iinclude).
$(BUILD)/craft/classic-cluster: $(CLASSIC_EXAMPLE)
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_EXAMPLE_CFLAGS) -o $@ $< -l:libraft.so.2

example-classic-craft015: $(BUILD)/craft/classic-cluster
	$(VALGRIND) $< --prompt-callbacks

# Against the C-Raft installed under CRAFT_PREFIX (scripts/build-craft.sh). The binary has no
# run path: each run names its libraft.so.0 with LD_LIBRARY_PATH, and the recipe first checks
# that the dynamic linker resolves it there, so the second run really is ours under a binary
# compiled against C-Raft's header. Then the layout: scripts/craft_layout.c against C-Raft's
# header must print docs/craft-0.22.1-layout.txt, and against ours (public members only) a
# subset of it.
CRAFT_BUILD := $(BUILD)/craft-prefix

$(CRAFT_BUILD)/classic-cluster: $(CLASSIC_EXAMPLE) $(CRAFT_PREFIX)/include/raft.h
	@mkdir -p $(dir $@)
	$(CC) $(CLASSIC_EXAMPLE_CFLAGS) -I$(CRAFT_PREFIX)/include -o $@ $< -L$(CRAFT_PREFIX)/lib -lraft

$(CRAFT_BUILD)/craft_layout: scripts/craft_layout.c $(CRAFT_PREFIX)/include/raft.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -I$(CRAFT_PREFIX)/include -o $@ $<

$(CRAFT_BUILD)/ours_layout: scripts/craft_layout.c include/raft.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -DLAYOUT_PUBLIC_ONLY -Iinclude -o $@ $<

# Prints where the dynamic linker finds libraft.so.0 for binary $(1) with library path $(2),
# and fails unless that is inside $(2).
define resolves_raft_in
	@found=$$(LD_LIBRARY_PATH=$(2) ldd $(1) | awk '$$1 == "libraft.so.0" {print $$3}'); \
	  echo "libraft.so.0 => $${found:-not found}"; \
	  case "$$found" in $(2)/*) ;; *) echo "expected libraft.so.0 from $(2)" >&2; exit 1;; esac
endef

# raft/fixture.h against C-Raft 0.22.1: the layout of struct raft_fixture; the differential
# program and our cmocka suite compiled against C-Raft's headers, run on C-Raft and on ours;
# C-Raft's own fixture tests (built from CRAFT_SRC, see scripts/craft-fixture-tests.sh) on both.
CRAFT_SRC ?= /work/craft-src
.PHONY: test-fixture-craft
test-fixture-craft: $(LIBDIR)/libraft.so c_tests/fixture/diff/fixture_diff.c c_tests/fixture/test_fixture.c
	@mkdir -p $(CRAFT_BUILD)/fixture
	@ln -sf libraft.so $(LIBDIR)/libraft.so.0
	@echo "== struct raft_fixture: C-Raft's header and ours"
	$(CC) -std=c11 -I$(CRAFT_PREFIX)/include -o $(CRAFT_BUILD)/fixture/layout-craft scripts/fixture_layout.c
	$(CC) -std=c11 -Iinclude -o $(CRAFT_BUILD)/fixture/layout-ours scripts/fixture_layout.c
	$(CRAFT_BUILD)/fixture/layout-craft | diff -u docs/craft-0.22.1-fixture-layout.txt -
	$(CRAFT_BUILD)/fixture/layout-ours | diff -u docs/craft-0.22.1-fixture-layout.txt -
	@echo "== fixture_diff.c compiled against C-Raft 0.22.1's headers: C-Raft, then ours"
	$(CC) $(FIXTURE_CFLAGS) -DFIXTURE_API_0_22 -I$(CRAFT_PREFIX)/include -o $(CRAFT_BUILD)/fixture/diff \
	  c_tests/fixture/diff/fixture_diff.c -L$(CRAFT_PREFIX)/lib -lraft
	$(call resolves_raft_in,$(CRAFT_BUILD)/fixture/diff,$(abspath $(CRAFT_PREFIX))/lib)
	LD_LIBRARY_PATH=$(abspath $(CRAFT_PREFIX))/lib $(CRAFT_BUILD)/fixture/diff 2>/dev/null > $(CRAFT_BUILD)/fixture/diff-craft.txt
	$(call resolves_raft_in,$(CRAFT_BUILD)/fixture/diff,$(abspath $(LIBDIR)))
	LD_LIBRARY_PATH=$(abspath $(LIBDIR)) $(CRAFT_BUILD)/fixture/diff > $(CRAFT_BUILD)/fixture/diff-ours.txt
	diff -u $(CRAFT_BUILD)/fixture/diff-craft.txt $(CRAFT_BUILD)/fixture/diff-ours.txt
	@echo "== our cmocka suite compiled against C-Raft 0.22.1's headers, on our library"
	$(CC) $(FIXTURE_CFLAGS) -I$(CRAFT_PREFIX)/include -o $(CRAFT_BUILD)/fixture/test_fixture \
	  c_tests/fixture/test_fixture.c -L$(CRAFT_PREFIX)/lib -lraft $(CMOCKA_LIBS)
	$(call resolves_raft_in,$(CRAFT_BUILD)/fixture/test_fixture,$(abspath $(LIBDIR)))
	LD_LIBRARY_PATH=$(abspath $(LIBDIR)) $(VALGRIND) $(CRAFT_BUILD)/fixture/test_fixture
	@echo "== C-Raft's own fixture tests"
	bash scripts/craft-fixture-tests.sh $(CRAFT_SRC) $(abspath $(CRAFT_PREFIX)) $(abspath $(LIBDIR))

test-craft: test-fixture-craft $(CRAFT_BUILD)/classic-cluster $(CRAFT_BUILD)/craft_layout $(CRAFT_BUILD)/ours_layout $(LIBDIR)/libraft.so $(BUILD)/uvdiff/uvdir-ours
	@test -f $(CRAFT_PREFIX)/lib/libraft.so.0 || \
	  (echo "no C-Raft under CRAFT_PREFIX=$(CRAFT_PREFIX): run scripts/build-craft.sh SRC PREFIX" >&2; exit 1)
	@echo "== classic example, C-Raft's header, C-Raft's library ($(CRAFT_PREFIX)/lib)"
	$(call resolves_raft_in,$(CRAFT_BUILD)/classic-cluster,$(abspath $(CRAFT_PREFIX))/lib)
	LD_LIBRARY_PATH=$(abspath $(CRAFT_PREFIX))/lib $(VALGRIND) $(CRAFT_BUILD)/classic-cluster
	@echo "== classic example, C-Raft's header, our library ($(LIBDIR)): the drop-in check"
	@ln -sf libraft.so $(LIBDIR)/libraft.so.0
	$(call resolves_raft_in,$(CRAFT_BUILD)/classic-cluster,$(abspath $(LIBDIR)))
	LD_LIBRARY_PATH=$(abspath $(LIBDIR)) $(VALGRIND) $(CRAFT_BUILD)/classic-cluster --prompt-callbacks
	@echo "== layout: C-Raft's header against docs/craft-0.22.1-layout.txt"
	$(CRAFT_BUILD)/craft_layout | diff -u docs/craft-0.22.1-layout.txt -
	@echo "== layout: our header's public members, each as in C-Raft's"
	@$(CRAFT_BUILD)/ours_layout | grep -v '^#' > $(CRAFT_BUILD)/ours_layout.txt
	@if grep -vxFf docs/craft-0.22.1-layout.txt $(CRAFT_BUILD)/ours_layout.txt; then \
	  echo "these lines of our layout differ from C-Raft's (docs/craft-0.22.1-layout.txt)" >&2; exit 1; fi
	@echo "$$(wc -l < $(CRAFT_BUILD)/ours_layout.txt) layout facts of our header match C-Raft's"
	@echo "== the classic suite and smoke test compiled against C-Raft's header, run on our library"
	@set -e; for t in $(CLASSIC_TESTS); do \
	  $(CC) $(CLASSIC_CFLAGS) -DON_LIBRAFT_RS -I$(CRAFT_PREFIX)/include -o $(CRAFT_BUILD)/$$t \
	    c_tests/classic/$$t.c $(CLASSIC_SUPPORT) $(CMOCKA_LIBS) -L$(abspath $(LIBDIR)) -lraft; \
	  echo "== $$t"; LD_LIBRARY_PATH=$(abspath $(LIBDIR)) $(CRAFT_BUILD)/$$t; done
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O1 -I$(CRAFT_PREFIX)/include -o $(CRAFT_BUILD)/test_classic_smoke \
	  c_tests/test_classic_smoke.c $(CMOCKA_LIBS) -L$(abspath $(LIBDIR)) -lraft
	LD_LIBRARY_PATH=$(abspath $(LIBDIR)) $(CRAFT_BUILD)/test_classic_smoke
	@echo "== the raft_uv tests compiled against C-Raft's raft.h and raft/uv.h, run on our library"
	@set -e; for t in $(UV_TESTS); do \
	  $(CC) -std=gnu11 -g -O1 -I$(CRAFT_PREFIX)/include -Ic_tests/uv -o $(CRAFT_BUILD)/$$t \
	    c_tests/uv/$$t.c $(CMOCKA_LIBS) -L$(abspath $(LIBDIR)) -lraft -luv; \
	  echo "== $$t"; UV_VECTORS=$(UV_VECTORS) LD_LIBRARY_PATH=$(abspath $(LIBDIR)) $(CRAFT_BUILD)/$$t; done
	@echo "== data directories: C-Raft 0.22.1's raft_uv and ours load what the other wrote"
	$(CC) -std=c11 -Wall -Wextra -Werror -g -O1 -I$(CRAFT_PREFIX)/include -o $(CRAFT_BUILD)/uvdir-craft \
	  c_tests/uv/diff/uvdir.c -L$(abspath $(CRAFT_PREFIX))/lib -lraft -luv -Wl,-rpath,$(abspath $(CRAFT_PREFIX))/lib
	bash c_tests/uv/diff/run.sh $(CRAFT_BUILD)/uvdir-craft $(BUILD)/uvdiff/uvdir-ours
	@echo "make test-craft: all passed"
