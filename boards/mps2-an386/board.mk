# boards/mps2-an386/board.mk - QEMU mps2-an386 (Cortex-M4F) firmware: the port (startup, HAL, UART, semihosting,
# linker script) and td_app on it.
#
# Included by firmware/firmware.mk (which defines FW_CORE_SRC, FW_APP_SRC, FW_INC, FW_WARN,
# FW_ARM_CC, FW_ARM_FLAGS); the ?= defaults below let it also run on its own:
#     make -f boards/mps2-an386/board.mk fw-qemu
# Targets (run from the repository root):
#     fw-qemu           build/fw/mps2-an386/tinydrift.elf (+ .bin): td_app on this board's HAL
#     fw-qemu-size      flash/RAM of tinydrift.elf (arm-none-eabi-size)
# The harnesses built on this port live with the tests and benchmarks and use the MPS2_* variables below:
# tests/m4/tests.mk (test-core-m4, fw-qemu-selftest) and bench/m4/bench.mk (fw-qemu-bench).
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
MPS2_CFLAGS := $(FW_WARN) $(FW_ARM_FLAGS) $(FW_CORE_DEFS) -g -fno-common $(FW_INC) -I$(MPS2_DIR)
MPS2_LDFLAGS := -T $(MPS2_DIR)/mps2-an386.ld -nostartfiles --specs=nano.specs -Wl,--gc-sections
MPS2_BOARD_SRC := $(addprefix $(MPS2_DIR)/,startup.c semihost.c mps2_uart.c)
MPS2_HAL_SRC := $(MPS2_BOARD_SRC) $(MPS2_DIR)/hal_mps2.c
MPS2_HDR := $(wildcard $(MPS2_DIR)/*.h csrc/include/tinydrift/*.h csrc/src/*.h firmware/*.h)
MPS2_DEPS := $(MPS2_HDR) $(MPS2_DIR)/mps2-an386.ld $(MPS2_DIR)/board.mk

MPS2_ELF := $(MPS2_OUT)/tinydrift.elf

.PHONY: fw-qemu fw-qemu-size

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
