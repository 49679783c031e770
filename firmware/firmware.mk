# firmware/firmware.mk - build fragment for the device firmware (board-independent app + boards).
#
# Included from the top-level Makefile (`include firmware/firmware.mk`) or used alone:
#     make -f firmware/firmware.mk fw-host test-fw-c fw-check-arm
# All paths are relative to the repository root. Variables other fragments may use:
#     FW_CORE_SRC  the C core sources           FW_APP_SRC  the firmware app sources
#     FW_INC       include flags for both       FW_WARN     warning flags (C99, -Werror)
#     FW_ARM_CC, FW_ARM_FLAGS  Cortex-M4F compiler and code-generation flags (Nano 33 BLE's)
#     FW_CORE_DEFS compile-time options of the core for the firmware builds (the boards have flash to
#                  spare: 256-entry CRC-32 table, +928 B, which also folds the CRC into td_frame_encode)
# Targets:
#     fw-host       build/fw/host/tinydrift-sim (POSIX host simulator, boards/host)
#     fw-check-arm  compile app + core for Cortex-M4F, warning-free (-c only)
#     fw-size       sizeof(td_app_t) and .text of the app objects on Cortex-M4F
#     test-fw-c     tests/c/test_app.c and tests/c/test_store_powercut.c (a power cut at every flash
#                   operation of an upload) under AddressSanitizer + UndefinedBehaviorSanitizer

FW_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

FW_CORE_SRC := $(wildcard csrc/src/*.c)
FW_APP_SRC := $(wildcard firmware/*.c)
FW_HDR := $(wildcard csrc/include/tinydrift/*.h csrc/src/*.h firmware/*.h)
FW_INC := -Icsrc/include -Ifirmware
FW_WARN := -std=c99 -Wall -Wextra -Werror
FW_BUILD := build/fw
FW_HOST_CC ?= gcc
FW_HOST_FLAGS ?= -O2 -g
FW_SAN := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FW_ARM_CC ?= arm-none-eabi-gcc
FW_ARM_SIZE ?= arm-none-eabi-size
FW_ARM_NM ?= arm-none-eabi-nm
FW_ARM_FLAGS := -Os -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -ffunction-sections -fdata-sections
FW_CORE_DEFS ?= -DTD_CRC32_TABLE_BYTES=1024 -DTD_OPTIMIZE_SPEED=1

FW_HOST_BOARD_SRC := $(wildcard boards/host/*.c)
FW_HOST_BOARD_HDR := $(wildcard boards/host/*.h)
FW_SIM := $(FW_BUILD)/host/tinydrift-sim
FW_TEST_APP := $(FW_BUILD)/test_app
FW_TEST_POWERCUT := $(FW_BUILD)/test_store_powercut

.PHONY: fw-all fw-host fw-check-arm fw-size test-fw-c

fw-all: fw-host test-fw-c fw-check-arm

fw-host: $(FW_SIM)

$(FW_SIM): $(FW_HOST_BOARD_SRC) $(FW_HOST_BOARD_HDR) $(FW_APP_SRC) $(FW_CORE_SRC) $(FW_HDR)
	@mkdir -p $(dir $@)
	$(FW_HOST_CC) $(FW_WARN) $(FW_HOST_FLAGS) $(FW_CORE_DEFS) $(FW_INC) -Iboards/host $(FW_HOST_BOARD_SRC) $(FW_APP_SRC) \
	    $(FW_CORE_SRC) -o $@

test-fw-c: $(FW_TEST_APP) $(FW_TEST_POWERCUT)
	$(FW_TEST_APP)
	$(FW_TEST_POWERCUT)

$(FW_TEST_APP): tests/c/test_app.c tests/c/td_check.h tests/c/td_ram_flash.h $(FW_APP_SRC) $(FW_CORE_SRC) $(FW_HDR)
	@mkdir -p $(dir $@)
	$(FW_HOST_CC) $(FW_WARN) $(FW_SAN) $(FW_CORE_DEFS) $(FW_INC) tests/c/test_app.c $(FW_APP_SRC) $(FW_CORE_SRC) -o $@

$(FW_TEST_POWERCUT): tests/c/test_store_powercut.c tests/c/td_check.h tests/c/td_ram_flash.h $(FW_APP_SRC) $(FW_CORE_SRC) $(FW_HDR)
	@mkdir -p $(dir $@)
	$(FW_HOST_CC) $(FW_WARN) $(FW_SAN) $(FW_CORE_DEFS) $(FW_INC) tests/c/test_store_powercut.c $(FW_APP_SRC) \
	    $(FW_CORE_SRC) -o $@

# The app must build warning-free for the Nano 33 BLE's Cortex-M4F, like the core.
fw-check-arm:
	@mkdir -p $(FW_BUILD)/arm
	@set -e; for f in $(FW_APP_SRC) $(FW_CORE_SRC); do \
	    $(FW_ARM_CC) $(FW_WARN) $(FW_ARM_FLAGS) $(FW_CORE_DEFS) $(FW_INC) -c $$f -o $(FW_BUILD)/arm/$$(basename $$f .c).o; \
	done
	@echo "fw-check-arm: $(words $(FW_APP_SRC) $(FW_CORE_SRC)) files build with -Wall -Wextra -Werror for Cortex-M4"

# A one-line probe object holding a static td_app_t: nm -S gives its exact size on the target.
fw-size: fw-check-arm
	@printf '#include "td_app.h"\ntd_app_t fw_size_probe_app;\n' | \
	    $(FW_ARM_CC) $(FW_WARN) $(FW_ARM_FLAGS) $(FW_INC) -x c -c - -o $(FW_BUILD)/arm/size_probe.o
	@set -- $$($(FW_ARM_NM) -S $(FW_BUILD)/arm/size_probe.o | grep fw_size_probe_app); \
	    echo "sizeof(td_app_t) on Cortex-M4: $$((0x$$2)) bytes"
	@$(FW_ARM_SIZE) $(foreach f,$(FW_APP_SRC),$(FW_BUILD)/arm/$(notdir $(f:.c=.o)))

# Board fragments (written separately) may use the variables above.
-include boards/mps2-an386/board.mk
-include boards/nano33ble/board.mk

# Including this fragment must not change the includer's default goal.
ifneq ($(FW_SAVED_DEFAULT_GOAL),)
.DEFAULT_GOAL := $(FW_SAVED_DEFAULT_GOAL)
else ifneq ($(firstword $(MAKEFILE_LIST)),firmware/firmware.mk)
.DEFAULT_GOAL :=
else
.DEFAULT_GOAL := fw-all
endif
