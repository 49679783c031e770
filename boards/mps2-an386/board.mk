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

.PHONY: fw-qemu fw-qemu-size fw-qemu-selftest fw-qemu-bench

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
