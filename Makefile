# tinydrift - the two commands: `make demo` (end to end) and `make test` (whole suite).
# Each installs what it needs: system packages via apt when root (else the exact
# apt command is printed), a virtualenv in .venv with the package and its tools.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CC ?= gcc
ARM_CC := arm-none-eabi-gcc
BUILD := build/make

CORE_SRC := $(wildcard csrc/src/*.c)
CORE_HDR := $(wildcard csrc/include/tinydrift/*.h csrc/src/*.h)
C_TESTS := $(filter-out tests/c/test_app.c tests/c/test_store_powercut.c tests/c/test_nearest.c tests/c/test_minimal.c,\
    $(wildcard tests/c/test_*.c))
WARN := -std=c99 -Wall -Wextra -Werror
SAN := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ARM_FLAGS := -Os -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -ffunction-sections -fdata-sections

HOST_TOOLS := gcc:gcc python3-venv:python3-venv python3-dev:python3-dev
# The fleet tests and demo start their own mosquitto and PostgreSQL from these Debian packages.
FLEET_TOOLS := mosquitto:mosquitto postgresql-server:postgresql
ARM_TOOLS := $(ARM_CC):gcc-arm-none-eabi arm-none-eabi-g++:gcc-arm-none-eabi arm-none-eabi-size:binutils-arm-none-eabi qemu-system-arm:qemu-system-arm

.PHONY: all demo test test-c test-py check-arm size size-check venv tools fleet-tools clean help bench-device bench bench-link \
	demo-fleet bench-fleet

all: test

help:
	@echo "make demo   profile -> simulated board (QEMU Cortex-M4) -> drifted replay -> SQLite -> report"
	@echo "make demo-fleet   simulated devices -> gateways -> mosquitto -> ingest -> PostgreSQL -> fleet report"
	@echo "make bench-fleet  100 devices x 1,000 records and four faults through the broker -> docs/benchmarks-fleet.md"
	@echo "make test   the whole test suite (C tests under ASan/UBSan and on a QEMU Cortex-M4, Cortex-M4 build, pytest)"
	@echo "make size   Cortex-M4 flash/RAM of the full and the minimal core, sizeof the monitor state (6 channels) -> docs/size.md"
	@echo "make arduino-lib   dist/tinydrift-arduino-<version>.zip, the Arduino library (Nano 33 BLE); arduino-lib-check compiles it"
	@echo "make bench  detection quality and speed against peer detectors -> docs/benchmarks.md (BENCH_ARGS=--quick: 4 streams per scenario),"
	@echo "            then false alarms held on real data sets -> docs/benchmarks-calibration.md"
	@echo "make bench-link  collection over a damaged link (corrupt/dropped bytes, disconnects) -> docs/benchmarks-link.md"
	@echo "make fw-host / fw-qemu   build the host simulator / the QEMU Cortex-M4 firmware"
	@echo "make fuzz   every fuzz target for FUZZ_SECONDS each (default 10; part of make test) -> docs/security.md"

tools:
	@tools/ensure_tools.sh $(HOST_TOOLS) $(ARM_TOOLS)
	@[ -f /usr/lib/arm-none-eabi/include/stdint.h ] || tools/ensure_tools.sh _newlib_:libnewlib-arm-none-eabi

fleet-tools:
	@tools/ensure_tools.sh $(FLEET_TOOLS)

$(STAMP): pyproject.toml setup.py $(CORE_SRC) $(CORE_HDR) $(wildcard host/tinydrift/core/_cdef_*.h host/tinydrift/core/_ffi_build.py)
	@tools/ensure_tools.sh $(HOST_TOOLS)
	@[ -x $(VPY) ] || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(STAMP)

# TensorFlow (the optional [tf] extra) only for the test suite's model tests; the demo does not need it.
STAMP_TF := $(VENV)/.installed-tf
$(STAMP_TF): $(STAMP)
	$(VPY) -m pip install -q -e '.[test,tf,bench]'
	@touch $@

demo: tools $(STAMP)
	$(VPY) tools/demo.py

test: tools test-c check-arm size-check test-fw-c fw-check-arm arduino-lib-check fw-host fw-qemu test-core-m4 test-py fuzz

# C unit tests under AddressSanitizer and UndefinedBehaviorSanitizer, one program per concern of the core
# (CORE_TESTS: the profile parser, window statistics, detector and feature chart, the monitor's window close against
# the reference model of tests/c/td_test_model.h, model outputs; test_nearest the search alone, through
# csrc/src/td_monitor_internal.h). test_frame once more with the firmware's 256-entry CRC table (td_frame_encode
# then computes the CRC inside its COBS pass); the core tests once more with the firmware's TD_OPTIMIZE_SPEED=1 (the
# faster window close must give the same results) and with TD_TEST_NARROW (the 64-bit references they use on 32-bit
# targets, here under UBSan); test_stats and test_monitor once more with TD_BLOCK_AVX2=0 (an x86-64 speed build's
# block step in SSE2 alone, as on a CPU without AVX2); test_nearest in both builds and with TD_BLOCK_AVX2=0 (the
# search without its AVX2 lanes). test-core-m4 (tests/m4/tests.mk) runs them all but
# test_app on a Cortex-M4.
CORE_TESTS := test_profile test_stats test_detector test_monitor test_outputs
test-c: $(C_TESTS) tests/c/test_nearest.c tests/c/td_check.h tests/c/td_test_model.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	@set -e; for t in $(C_TESTS); do \
	    exe=$(BUILD)/$$(basename $$t .c); \
	    $(CC) $(WARN) $(SAN) -Icsrc/include -Icsrc/src $$t $(CORE_SRC) -o $$exe -lm; \
	    $$exe; \
	done
	@$(CC) $(WARN) $(SAN) -DTD_CRC32_TABLE_BYTES=1024 -Icsrc/include -Icsrc/src tests/c/test_frame.c $(CORE_SRC) \
	    -o $(BUILD)/test_frame_crc1024 -lm
	@printf 'TD_CRC32_TABLE_BYTES=1024: '; $(BUILD)/test_frame_crc1024
	@set -e; for t in $(CORE_TESTS); do \
	    $(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=1 -Icsrc/include -Icsrc/src tests/c/$$t.c $(CORE_SRC) \
	        -o $(BUILD)/$${t}_speed -lm; \
	    echo "$$t, TD_OPTIMIZE_SPEED=1:"; $(BUILD)/$${t}_speed; \
	    $(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=1 -DTD_TEST_NARROW -Icsrc/include -Icsrc/src tests/c/$$t.c \
	        $(CORE_SRC) -o $(BUILD)/$${t}_narrow -lm; \
	    echo "$$t, TD_OPTIMIZE_SPEED=1 TD_TEST_NARROW:"; $(BUILD)/$${t}_narrow; \
	done
	@set -e; for t in test_stats test_monitor; do \
	    $(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=1 -DTD_BLOCK_AVX2=0 -Icsrc/include -Icsrc/src tests/c/$$t.c \
	        $(CORE_SRC) -o $(BUILD)/$${t}_sse2 -lm; \
	    echo "$$t, TD_OPTIMIZE_SPEED=1 TD_BLOCK_AVX2=0 (x86-64: the SSE2 lanes only):"; $(BUILD)/$${t}_sse2; \
	done
	@$(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=1 -DTD_CLOSE_LANES=0 -Icsrc/include -Icsrc/src tests/c/test_monitor.c \
	    $(CORE_SRC) -o $(BUILD)/test_monitor_close1 -lm
	@echo "test_monitor, TD_OPTIMIZE_SPEED=1 TD_CLOSE_LANES=0 (x86-64: the window close channel by channel):"; \
	    $(BUILD)/test_monitor_close1
	@$(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=1 -DTD_BLOCK_LANES=0 -Icsrc/include -Icsrc/src tests/c/test_stats.c \
	    $(CORE_SRC) -o $(BUILD)/test_stats_nolanes -lm
	@echo "test_stats, TD_OPTIMIZE_SPEED=1 TD_BLOCK_LANES=0 (x86-64 speed build, frames channel by channel):"; \
	    $(BUILD)/test_stats_nolanes
	@set -e; for speed in 0 1; do \
	    $(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=$$speed -Icsrc/include -Icsrc/src tests/c/test_nearest.c \
	        $(CORE_SRC) -o $(BUILD)/test_nearest_$$speed -lm; \
	    $(BUILD)/test_nearest_$$speed; \
	done
	@$(CC) $(WARN) $(SAN) -DTD_OPTIMIZE_SPEED=1 -DTD_BLOCK_AVX2=0 -Icsrc/include -Icsrc/src tests/c/test_nearest.c \
	    $(CORE_SRC) -o $(BUILD)/test_nearest_sse2 -lm
	@printf 'TD_BLOCK_AVX2=0: '; $(BUILD)/test_nearest_sse2
	@set -e; for m in 0 1; do \
	    $(CC) $(WARN) $(SAN) -DTD_MINIMAL=$$m -Icsrc/include -Icsrc/src tests/c/test_minimal.c $(CORE_SRC) \
	        -o $(BUILD)/test_minimal_$$m -lm; \
	    $(BUILD)/test_minimal_$$m > $(BUILD)/test_minimal_$$m.txt || { tail -n 30 $(BUILD)/test_minimal_$$m.txt; exit 1; }; \
	    tail -n 1 $(BUILD)/test_minimal_$$m.txt; \
	done
	@head -n -1 $(BUILD)/test_minimal_0.txt > $(BUILD)/test_minimal_full.txt
	@head -n -1 $(BUILD)/test_minimal_1.txt > $(BUILD)/test_minimal_min.txt
	@cmp $(BUILD)/test_minimal_full.txt $(BUILD)/test_minimal_min.txt && \
	    echo "test_minimal: the minimal core's results equal the full core's ($$(tail -n 1 $(BUILD)/test_minimal_full.txt))"

# The core must build warning-free for the Nano 33 BLE's Cortex-M4F as well as the host.
check-arm: tools
	@mkdir -p $(BUILD)/arm
	@set -e; for f in $(CORE_SRC); do \
	    $(ARM_CC) $(WARN) $(ARM_FLAGS) -Icsrc/include -c $$f -o $(BUILD)/arm/$$(basename $$f .c).o; \
	done
	@echo "check-arm: $(words $(CORE_SRC)) core files build with -Wall -Wextra -Werror for Cortex-M4"

# The host package's import layers and no import cycles (contracts in pyproject.toml), then pytest
# (the fleet tests start their own mosquitto and PostgreSQL: fleet-tools installs them).
test-py: fleet-tools $(STAMP_TF)
	$(VENV)/bin/lint-imports --no-cache
	$(VPY) -m pytest -q

# The one source of the size figures: also writes docs/size.md (README and docs/architecture.md link to it).
size: tools
	$(PYTHON) tools/size_report.py --channels 6 --markdown docs/size.md

# The same measurement as a check (part of make test): the full and the minimal (-DTD_MINIMAL=1) core build
# warning-free for the Cortex-M4 and stay within their flash and state targets; writes nothing.
size-check: tools
	$(PYTHON) tools/size_report.py --channels 6

# Firmware application, boards and their tests (fw-host, fw-qemu, test-fw-c, fw-check-arm, ...).
include firmware/firmware.mk
# Harnesses on the QEMU Cortex-M4 port: the core's C tests there (test-core-m4) and the instruction bench.
include tests/m4/tests.mk
include bench/m4/bench.mk

# Fuzz targets (make fuzz, FUZZ_SECONDS=...): profile parser, frame codec, firmware protocol handler, host decoders.
include fuzz/fuzz.mk

# Detection quality and speed against peer detectors (river), device figures; writes docs/benchmarks.md.
# Then the calibration benchmark (false alarms held on real data sets; docs/benchmarks-calibration.md, ~15 min).
STAMP_BENCH := $(VENV)/.installed-bench
$(STAMP_BENCH): $(STAMP)
	$(VPY) -m pip install -q -e '.[test,bench]'
	@touch $@

bench: tools $(STAMP_BENCH)
	PYTHONPATH=bench $(VPY) -m tdbench $(BENCH_ARGS)
	nice -n 10 $(VPY) bench/calibration/run.py

# Cortex-M4 instructions per sample / window / telemetry record, measured in QEMU with -icount.
bench-device: tools $(STAMP)
	$(VPY) bench/m4/bench_device.py --runs 3 --markdown docs/benchmarks-device.md

# Collection over a damaged link (tests/faultproxy.py), five fault levels, about 2 minutes.
bench-link: tools $(STAMP)
	$(VPY) bench/link_faults.py --markdown docs/benchmarks-link.md

# The fleet (docs/fleet.md): the demo on throwaway local servers, and the full-size load and fault run.
demo-fleet: fleet-tools $(STAMP)
	$(VPY) tools/demo_fleet.py

bench-fleet: fleet-tools $(STAMP)
	nice -n 10 $(VPY) tools/bench_fleet.py --markdown docs/benchmarks-fleet.md

clean:
	rm -rf build dist *.egg-info host/*.egg-info $(VENV) .pytest_cache .hypothesis
	find . -name '__pycache__' -prune -exec rm -rf {} +
	rm -f host/tinydrift/_native*.so
