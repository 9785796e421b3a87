# Tessera: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= debug
BIN := .build/$(CONFIG)/tessera
OUT ?= out

# Every Debian package the build, the tests and the demo need (docs/ARCHITECTURE.md says which part uses which).
APT_PACKAGES := pkg-config \
	libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
	libdrm-dev libgbm-dev libegl-dev libgles-dev libinput-dev libxkbcommon-dev libudev-dev \
	libfreetype-dev libharfbuzz-dev libfribidi-dev libfontconfig-dev \
	fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-symbola glslang-tools openssl \
	libegl-mesa0 libgl1-mesa-dri libgbm1 ffmpeg \
	python3-jsonschema python3-websockets
# Only `make test` needs these: media servers packaged by Debian that the wall is tested against
# (gst-rtsp-server, srt-live-transmit, nginx's RTMP module; see docs/media.md).
TEST_APT_PACKAGES := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad srt-tools nginx-light libnginx-mod-rtmp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test demo bench e2e-kms e2e-boot fuzz soak soak-ci deb signal-check clean

# Installs the named Debian packages that are missing; apt-get update runs only when one is.
define apt_install
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make: installing" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "make: Debian packages present ($(words $(1)))"; fi
endef

## deps: install missing Debian packages (apt-get update + install only when something is missing)
deps:
	$(call apt_install,$(APT_PACKAGES))

## build: debug build of the tessera CLI
build: deps
	$(SWIFT) build -c $(CONFIG)

release:
	$(MAKE) build CONFIG=release

## test: layout schema checks, example layouts, and the Swift test suite, one test target per process.
## Swift Testing runs a process's tests on as many cooperative threads as there are cores (2 here):
## the media tests that wait on publisher threads would otherwise stall the signaling and kiosk
## tests' timers beside them (CI saw 60 s waits run out). Tests that measure the process's memory
## (malloc in use) run last on their own: other tests running beside them allocate too.
TEST_TARGETS := $(notdir $(wildcard Tests/*Tests))
## A test target that runs longer than this (seconds) is a hang: it is killed and named as failed.
TEST_TARGET_TIMEOUT ?= 900
ALONE_TESTS := noMemoryGrowthOverOpenCloseCycles
test: build
	$(call apt_install,$(TEST_APT_PACKAGES))
	python3 tools/check_schema.py
	$(BIN) validate Layouts/*.json
	$(SWIFT) build --build-tests
	@failed=""; for t in $(TEST_TARGETS); do \
	  echo "make test: $$t"; \
	  timeout -k 10 $(TEST_TARGET_TIMEOUT) $(SWIFT) test --skip-build --filter "^$$t\." --skip $(ALONE_TESTS) || failed="$$failed $$t"; \
	done; \
	echo "make test: tests that measure the whole process's memory, alone: $(ALONE_TESTS)"; \
	$(SWIFT) test --skip-build --filter $(ALONE_TESTS) || failed="$$failed $(ALONE_TESTS)"; \
	echo "make test: the wall against a backend written in Python from docs/signaling.md alone"; \
	/usr/bin/python3 tools/pybackend/wall_test.py --tessera $(BIN) || failed="$$failed pybackend"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED in:$$failed"; exit 1; fi; \
	echo "make test: all test targets passed"

## demo: the lecture-theatre wall, headless, with 250 synthetic participants, their publishers and the
## reference backend in one process; PNG snapshots and a stats summary in $(OUT)/demo/
demo: build
	@mkdir -p $(OUT)/demo
	$(BIN) validate Layouts/lecture-theatre.json
	$(BIN) plan Layouts/lecture-theatre.json --participants 250 > $(OUT)/demo/lecture-theatre-plan.txt
	$(BIN) demo --layout Layouts/lecture-theatre.json --participants 250 --out $(OUT)/demo

## bench: BENCHMARKS.md, measured in one run on this machine: composition against ffmpeg xstack and
## GStreamer compositor (tools/bench/compose.py), scene building and preset switching, media decoding
## beside ffmpeg's decode floor, live composition, latency into the output buffer (release build).
## Installs the peers; work files in $(OUT)/bench/
BENCH_PACKAGES := ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
BENCH_STREAMS ?= 16,64,250
bench: deps
	$(call apt_install,$(BENCH_PACKAGES))
	$(SWIFT) build -c release
	@mkdir -p $(OUT)/bench
	python3 tools/bench/compose.py --tessera .build/release/tessera --streams $(BENCH_STREAMS) --cache $(OUT)/bench --out $(OUT)/bench/compose.md
	set -o pipefail; .build/release/tessera bench scene --layout Layouts/lecture-theatre.json --participants 250 | tee $(OUT)/bench/scene-lecture.md
	set -o pipefail; .build/release/tessera bench scene --layout Layouts/wall-2x2-4k.json --participants 250 | tee $(OUT)/bench/scene-wall.md
	set -o pipefail; .build/release/tessera bench media --streams $(BENCH_STREAMS) --cache $(OUT)/bench | tee $(OUT)/bench/media.md
	python3 tools/bench/live.py --tessera .build/release/tessera --cache $(OUT)/bench --clip-seconds 40 --out $(OUT)/bench/live.md
	python3 tools/bench/live.py --tessera .build/release/tessera --cache $(OUT)/bench --clip-seconds 10 --out $(OUT)/bench/live-loop.md
	python3 tools/bench/live.py --tessera .build/release/tessera --cache $(OUT)/bench --fps 30 --clip-seconds 40 --warmup 15 --window 30 --no-load-shedding --out $(OUT)/bench/live-30-off.md
	python3 tools/bench/live.py --tessera .build/release/tessera --cache $(OUT)/bench --fps 30 --clip-seconds 40 --warmup 15 --window 30 --out $(OUT)/bench/live-30-on.md
	python3 tools/bench/preview.py --tessera .build/release/tessera --work $(OUT)/bench/preview --out $(OUT)/bench/preview.md
	set -o pipefail; .build/release/tessera bench latency --streams 1,64,250 --refresh 60 --cache $(OUT)/bench | tee $(OUT)/bench/latency-60.md
	set -o pipefail; .build/release/tessera bench latency --streams 250 --refresh 15 --cache $(OUT)/bench | tee $(OUT)/bench/latency-15.md
	python3 tools/bench/report.py --dir $(OUT)/bench > BENCHMARKS.md
	@echo "make bench: wrote BENCHMARKS.md"

## soak: a headless wall with SOAK_STREAMS live UDP streams for SOAK_MINUTES under churn (publishers killed,
## participants leaving and joining, presets, layout edits, backend restarts), sampling memory, descriptors,
## threads and streams; writes $(OUT)/soak/soak.md, samples.csv and soak.png (release build). See RELIABILITY.md.
SOAK_STREAMS ?= 64
SOAK_MINUTES ?= 15
SOAK_ARGS ?=
soak: deps
	@python3 -c 'import matplotlib' 2>/dev/null || { echo "make soak: installing matplotlib (for the plot)"; \
		python3 -m pip install -q matplotlib || echo "make soak: no matplotlib; the report will have no plot"; }
	$(SWIFT) build -c release
	python3 tools/soak/soak.py --tessera .build/release/tessera --streams $(SOAK_STREAMS) \
		--duration $$(( $(SOAK_MINUTES) * 60 )) --out $(OUT)/soak $(SOAK_ARGS)

## soak-ci: a few minutes of the same on the debug build, failing on leaked descriptors or threads (CI)
soak-ci: build
	python3 tools/soak/soak.py --tessera $(BIN) --streams 16 --per-publisher 4 --warmup 30 --duration 120 \
		--churn 10 --sample 3 --rss-limit 1000 --fd-slack 2 --thread-slack 2 --out $(OUT)/soak-ci

## deb: out/deb/tessera_<version>_amd64.deb and tessera-signal_<version>_amd64.deb: a release build with the
## Swift runtime linked in (--static-swift-stdlib, in .build-deb/), Debian dependencies read off the binaries,
## the unit, conffiles under /etc/tessera, maintainer scripts; lintian errors fail it. See docs/install.md.
DEB_VERSION ?= 0.1.0+$(shell git rev-list --count HEAD 2>/dev/null || echo 0).g$(shell git rev-parse --short HEAD 2>/dev/null || echo 0)
deb: deps
	$(call apt_install,dpkg-dev lintian binutils)
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-deb
	python3 packaging/deb/build.py --version $(DEB_VERSION) --bin .build-deb/release --out $(OUT)/deb

## e2e-kms: the kiosk on a real DRM/KMS device in a QEMU VM (virtio-gpu, two heads, TCG: no root, no KVM);
## both renderers, screendumps checked against `tessera plan`, a shortcut key, a clean stop. Installs
## qemu-system-x86 and busybox-static, fetches Debian's kernel package; work files in .build-kms/
e2e-kms: build
	python3 tools/kms-vm/e2e/e2e_kms.py --tessera $(BIN)

## e2e-boot: the package installed with apt on a minimal Debian 12 (mmdebstrap) booted with systemd in QEMU (TCG,
## needs root): the unit, user and hardening; both heads against `tessera plan`; a key through libinput; watchdog,
## kill -9 and reboot recovery, timed; the journal; doctor. Builds the package first unless E2E_BOOT_DEB=path
## names one; root and disk image cached in $(OUT)/e2e-boot/. See docs/install.md.
e2e-boot: $(if $(E2E_BOOT_DEB),,deb)
	$(SUDO) /usr/bin/python3 tools/e2e-boot/e2e_boot.py --deb $(or $(E2E_BOOT_DEB),$(OUT)/deb/tessera_$(DEB_VERSION)_amd64.deb)

## fuzz: libFuzzer on every harness in Fuzz/Sources (layout, signaling, stamps, streams), FUZZ_SECONDS each
## (default 60; FUZZ_ONLY=layout,… for some). Seeds from Fuzz/Seeds/, the example layouts, fixtures and
## clips; corpora and findings in $(OUT)/fuzz/<harness>/. A finding fails the run: make it a test.
## FUZZ_CONFIG=debug builds in about a tenth of the CPU time (CI's smoke) and runs a few times slower.
FUZZ_SECONDS ?= 60
FUZZ_ONLY ?=
FUZZ_CONFIG ?= release
fuzz: deps
	TESSERA_FUZZ=1 $(SWIFT) build -c $(FUZZ_CONFIG) --scratch-path .build-fuzz --product tessera-fuzz \
		-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld -Xswiftc -enable-testing
	python3 tools/fuzz/run.py --binary .build-fuzz/$(FUZZ_CONFIG)/tessera-fuzz --seconds $(FUZZ_SECONDS) --out $(OUT)/fuzz \
		$(if $(FUZZ_ONLY),--only $(FUZZ_ONLY))

## signal-check: the signaling conformance checker against a debug tessera-signal on a loopback port
## with temporary tokens (docs/signaling.md#conformance); not part of `make test`
signal-check: deps
	$(SWIFT) build --product tessera-signal
	tools/signal-check/run_local.sh .build/debug/tessera-signal

clean:
	rm -rf .build .build-fuzz $(OUT)
