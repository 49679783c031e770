# tests/m4/tests.mk - tests on the mps2-an386 port (QEMU Cortex-M4F): the core's C tests and the board self-test.
#
# Included by the top-level Makefile after firmware/firmware.mk (which includes boards/mps2-an386/board.mk: MPS2_*
# variables, FW_* flags). Targets (run from the repository root):
#     test-core-m4      the core's C tests (tests/c: CORE_M4_TESTS below) built for this board with the firmware's
#                       core options and run in QEMU (semihosting); fails if any test fails
#     fw-qemu-selftest  build/fw/mps2-an386/selftest.elf: HAL self-test + UART echo (tests/m4/selftest.c)

TESTS_M4_DIR := tests/m4
MPS2_SELFTEST := $(MPS2_OUT)/selftest.elf

.PHONY: fw-qemu-selftest test-core-m4 mps2-test-tools

fw-qemu-selftest: $(MPS2_SELFTEST)

$(MPS2_SELFTEST): $(MPS2_HAL_SRC) $(TESTS_M4_DIR)/selftest.c $(MPS2_DEPS)
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_CFLAGS) -DMPS2_STORAGE_FILE='"tinydrift-selftest.bin"' $(MPS2_HAL_SRC) \
	    $(TESTS_M4_DIR)/selftest.c $(MPS2_LDFLAGS) -o $@

# The core's C tests on the Cortex-M4, where its DSP and assembly paths are compiled in: the scaled
# nearest-centroid search's assembly (TD_OPTIMIZE_SPEED), td_log2_q8's, the SMLAD/SXTB16 PCA loop, the attribution's
# SMLAL loops and the SIMD zero-byte test of the COBS encoder; the host's test-c runs the portable code instead. Built
# with the firmware's core options (FW_CORE_DEFS: TD_OPTIMIZE_SPEED=1, the 1 KB CRC-32 table), each test's main
# renamed and called by test_main.c, newlib's semihosting library for printf and exit. A fault hangs the board
# (startup.c), hence the timeout.
MPS2_QEMU ?= qemu-system-arm
MPS2_TEST_TIMEOUT ?= 300
CORE_M4_TESTS := test_profile test_stats test_detector test_monitor test_outputs test_nearest test_frame
MPS2_TEST_OUT := $(MPS2_OUT)/tests
MPS2_TEST_ELFS := $(CORE_M4_TESTS:%=$(MPS2_TEST_OUT)/%.elf)
.SECONDARY: $(CORE_M4_TESTS:%=$(MPS2_TEST_OUT)/%.o)
MPS2_TEST_CFLAGS := $(MPS2_CFLAGS) -Icsrc/src
MPS2_TEST_LDFLAGS := -T $(MPS2_DIR)/mps2-an386.ld -nostartfiles --specs=rdimon.specs -Wl,--gc-sections \
    -Wl,--defsym=end=_ebss

test-core-m4: $(MPS2_TEST_ELFS)
	@failed=; for t in $(CORE_M4_TESTS); do \
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

$(MPS2_TEST_OUT)/%.o: tests/c/%.c tests/c/td_check.h tests/c/td_test_model.h $(FW_CORE_SRC) $(MPS2_DEPS) \
    $(TESTS_M4_DIR)/tests.mk | mps2-test-tools
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_TEST_CFLAGS) -Dmain=td_test_main -c $< -o $@

$(MPS2_TEST_OUT)/%.elf: $(MPS2_TEST_OUT)/%.o $(TESTS_M4_DIR)/test_main.c $(MPS2_DIR)/startup.c $(MPS2_DIR)/mps2_uart.c \
    $(FW_CORE_SRC) $(MPS2_DEPS)
	$(FW_ARM_CC) $(MPS2_TEST_CFLAGS) $< $(TESTS_M4_DIR)/test_main.c $(MPS2_DIR)/startup.c $(MPS2_DIR)/mps2_uart.c \
	    $(FW_CORE_SRC) $(MPS2_TEST_LDFLAGS) -lm -o $@
