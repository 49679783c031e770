# boards/mps2-an386/board.mk - QEMU mps2-an386 (Cortex-M4F) firmware, board self-test and device benchmark.
#
# Included by firmware/firmware.mk (which defines FW_CORE_SRC, FW_APP_SRC, FW_INC, FW_WARN,
# FW_ARM_CC, FW_ARM_FLAGS); the ?= defaults below let it also run on its own:
#     make -f boards/mps2-an386/board.mk fw-qemu
# Targets (run from the repository root):
#     fw-qemu           build/fw/mps2-an386/tinydrift.elf (+ .bin): td_app on this board's HAL
#     fw-qemu-size      flash/RAM of tinydrift.elf (arm-none-eabi-size)
#     fw-qemu-selftest  build/fw/mps2-an386/selftest.elf: HAL self-test + UART echo
#     fw-qemu-bench     build/fw/mps2-an386/bench.elf: instruction counts under -icount shift=0
#                       (run it with tools/bench_device.py)
#     test-core-m4      the core's C tests (tests/c, MPS2_TESTS below) built for this board with the
#                       firmware's core options and run in QEMU (semihosting); fails if any test fails
# Run commands: boards/mps2-an386/README.md.

FW_CORE_SRC ?= $(wildcard csrc/src/*.c)
FW_APP_SRC ?= $(wildcard firmware/*.c)
FW_INC ?= -Icsrc/include -Ifirmware
FW_WARN ?= -std=c99 -Wall -Wextra -Werror
FW_ARM_CC ?= arm-none-eabi-gcc
FW_ARM_SIZE ?= arm-none-eabi-size
FW_ARM_FLAGS ?= -Os -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -ffunction-sections -fdata-sections
FW_CORE_DEFS ?= -DTD_CRC32_TABLE_BYTES=1024 -DTD_OPTIMIZE_SPEED=1

MPS2_DIR := boards/mps2-an386
MPS2_OUT := build/fw/mps2-an386
MPS2_OBJCOPY ?= arm-none-eabi-objcopy
MPS2_PYTHON ?= $(firstword $(wildcard .venv/bin/python) python3)
MPS2_CFLAGS := $(FW_WARN) $(FW_ARM_FLAGS) $(FW_CORE_DEFS) -g -fno-common $(FW_INC) -I$(MPS2_DIR)
MPS2_LDFLAGS := -T $(MPS2_DIR)/mps2-an386.ld -nostartfiles --specs=nano.specs -Wl,--gc-sections
MPS2_BOARD_SRC := $(addprefix $(MPS2_DIR)/,startup.c semihost.c mps2_uart.c)
MPS2_HAL_SRC := $(MPS2_BOARD_SRC) $(MPS2_DIR)/hal_mps2.c
MPS2_HDR := $(wildcard $(MPS2_DIR)/*.h csrc/include/tinydrift/*.h csrc/src/*.h firmware/*.h)
MPS2_DEPS := $(MPS2_HDR) $(MPS2_DIR)/mps2-an386.ld $(MPS2_DIR)/board.mk

MPS2_ELF := $(MPS2_OUT)/tinydrift.elf
MPS2_SELFTEST := $(MPS2_OUT)/selftest.elf
MPS2_BENCH := $(MPS2_OUT)/bench.elf
MPS2_BENCH_DATA := $(MPS2_OUT)/bench_data.h
MPS2_PROTO_SRC := $(filter %/td_proto.c,$(FW_APP_SRC))
# Bench profile: window and training data (a real recording; see data/README.md).
MPS2_BENCH_WINDOW ?= 64

.PHONY: fw-qemu fw-qemu-size fw-qemu-selftest fw-qemu-bench test-core-m4 mps2-test-tools

fw-qemu: $(MPS2_ELF) $(MPS2_ELF:.elf=.bin)

$(MPS2_ELF): $(MPS2_HAL_SRC) $(MPS2_DIR)/main.c $(FW_APP_SRC) $(FW_CORE_SRC) $(MPS2_DEPS)
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_CFLAGS) $(MPS2_HAL_SRC) $(MPS2_DIR)/main.c $(FW_APP_SRC) $(FW_CORE_SRC) \
	    $(MPS2_LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@

$(MPS2_OUT)/%.bin: $(MPS2_OUT)/%.elf
	$(MPS2_OBJCOPY) -O binary $< $@

fw-qemu-size: $(MPS2_ELF)
	@$(FW_ARM_SIZE) $(MPS2_ELF)
	@set -- $$($(FW_ARM_SIZE) $(MPS2_ELF) | tail -1); \
	    echo "mps2-an386 tinydrift.elf: flash $$(($$1 + $$2)) bytes (text + data), RAM $$(($$2 + $$3)) bytes (data + bss) + stack"

fw-qemu-selftest: $(MPS2_SELFTEST)

$(MPS2_SELFTEST): $(MPS2_HAL_SRC) $(MPS2_DIR)/selftest.c $(MPS2_DEPS)
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_CFLAGS) -DMPS2_STORAGE_FILE='"tinydrift-selftest.bin"' $(MPS2_HAL_SRC) \
	    $(MPS2_DIR)/selftest.c $(MPS2_LDFLAGS) -o $@

fw-qemu-bench: $(MPS2_BENCH)

# The bench's profile, frames and expected scores come from the Python package (same C core via CFFI).
$(MPS2_BENCH_DATA): $(MPS2_DIR)/gen_bench_data.py data/basicmotions.npz $(FW_CORE_SRC)
	@mkdir -p $(dir $@)
	$(MPS2_PYTHON) $(MPS2_DIR)/gen_bench_data.py --window $(MPS2_BENCH_WINDOW) -o $@

$(MPS2_BENCH): $(MPS2_BOARD_SRC) $(MPS2_DIR)/bench.c $(MPS2_BENCH_DATA) $(FW_APP_SRC) $(FW_CORE_SRC) $(MPS2_DEPS)
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_CFLAGS) -I$(MPS2_OUT) $(if $(MPS2_PROTO_SRC),-DBENCH_HAVE_PROTO) $(MPS2_BOARD_SRC) \
	    $(MPS2_DIR)/bench.c $(MPS2_PROTO_SRC) $(FW_CORE_SRC) $(MPS2_LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@

# The core's C tests on the Cortex-M4, where its DSP and assembly paths are compiled in: the scaled
# nearest-centroid search's assembly (TD_OPTIMIZE_SPEED), td_log2_q8's, the SMLAD/SXTB16 PCA loop and the
# SIMD zero-byte test of the COBS encoder; the host's test-c runs the portable code instead. Built with the
# firmware's core options (FW_CORE_DEFS: TD_OPTIMIZE_SPEED=1, the 1 KB CRC-32 table), each test's main renamed
# and called by test_main.c, newlib's semihosting library for printf and exit. A fault hangs the board
# (startup.c), hence the timeout.
MPS2_QEMU ?= qemu-system-arm
MPS2_TEST_TIMEOUT ?= 300
MPS2_TESTS := test_profile test_stats test_detector test_monitor test_outputs test_nearest test_frame
MPS2_TEST_OUT := $(MPS2_OUT)/tests
MPS2_TEST_ELFS := $(MPS2_TESTS:%=$(MPS2_TEST_OUT)/%.elf)
.SECONDARY: $(MPS2_TESTS:%=$(MPS2_TEST_OUT)/%.o)
MPS2_TEST_CFLAGS := $(MPS2_CFLAGS) -Icsrc/src
MPS2_TEST_LDFLAGS := -T $(MPS2_DIR)/mps2-an386.ld -nostartfiles --specs=rdimon.specs -Wl,--gc-sections \
    -Wl,--defsym=end=_ebss

test-core-m4: $(MPS2_TEST_ELFS)
	@failed=; for t in $(MPS2_TESTS); do \
	    echo "test-core-m4: $$t on QEMU mps2-an386 (Cortex-M4)"; \
	    timeout $(MPS2_TEST_TIMEOUT) $(MPS2_QEMU) -M mps2-an386 -display none -monitor none -serial stdio \
	        -kernel $(MPS2_TEST_OUT)/$$t.elf -semihosting-config enable=on,target=native </dev/null; \
	    rc=$$?; [ $$rc -ne 124 ] || echo "test-core-m4: $$t timed out after $(MPS2_TEST_TIMEOUT) s"; \
	    [ $$rc -eq 0 ] || failed="$$failed $$t"; \
	done; \
	[ -z "$$failed" ] || { echo "test-core-m4: FAILED:$$failed" >&2; exit 1; }

mps2-test-tools:
	@tools/ensure_tools.sh $(FW_ARM_CC):gcc-arm-none-eabi $(MPS2_QEMU):qemu-system-arm
	@[ -f /usr/lib/arm-none-eabi/include/stdint.h ] || tools/ensure_tools.sh _newlib_:libnewlib-arm-none-eabi

$(MPS2_TEST_OUT)/%.o: tests/c/%.c tests/c/td_check.h tests/c/td_test_model.h $(FW_CORE_SRC) $(MPS2_DEPS) | mps2-test-tools
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_TEST_CFLAGS) -Dmain=td_test_main -c $< -o $@

$(MPS2_TEST_OUT)/%.elf: $(MPS2_TEST_OUT)/%.o $(MPS2_DIR)/test_main.c $(MPS2_DIR)/startup.c $(MPS2_DIR)/mps2_uart.c \
    $(FW_CORE_SRC) $(MPS2_DEPS)
	$(FW_ARM_CC) $(MPS2_TEST_CFLAGS) $< $(MPS2_DIR)/test_main.c $(MPS2_DIR)/startup.c $(MPS2_DIR)/mps2_uart.c \
	    $(FW_CORE_SRC) \
	    $(MPS2_TEST_LDFLAGS) -lm -o $@
