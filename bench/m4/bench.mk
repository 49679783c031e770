# bench/m4/bench.mk - the device instruction bench: bench.c on the mps2-an386 port (QEMU Cortex-M4F).
#
# Included by the top-level Makefile after firmware/firmware.mk (which includes boards/mps2-an386/board.mk: MPS2_*
# variables, FW_* flags). Targets (run from the repository root):
#     fw-qemu-bench     build/fw/mps2-an386/bench.elf: instruction counts under -icount shift=0
#                       (run it with bench/m4/bench_device.py, or make bench-device)

BENCH_M4_DIR := bench/m4
MPS2_PYTHON ?= $(firstword $(wildcard .venv/bin/python) python3)
MPS2_BENCH := $(MPS2_OUT)/bench.elf
MPS2_BENCH_DATA := $(MPS2_OUT)/bench_data.h
MPS2_PROTO_SRC := $(filter %/td_proto.c,$(FW_APP_SRC))
# Bench profile: window and training data (a real recording; see data/README.md).
MPS2_BENCH_WINDOW ?= 64

.PHONY: fw-qemu-bench

fw-qemu-bench: $(MPS2_BENCH)

# The bench's profile, frames and expected scores come from the Python package (same C core via CFFI).
$(MPS2_BENCH_DATA): $(BENCH_M4_DIR)/gen_bench_data.py data/basicmotions.npz $(FW_CORE_SRC)
	@mkdir -p $(dir $@)
	$(MPS2_PYTHON) $(BENCH_M4_DIR)/gen_bench_data.py --window $(MPS2_BENCH_WINDOW) -o $@

$(MPS2_BENCH): $(MPS2_BOARD_SRC) $(BENCH_M4_DIR)/bench.c $(MPS2_BENCH_DATA) $(FW_APP_SRC) $(FW_CORE_SRC) $(MPS2_DEPS) \
    $(BENCH_M4_DIR)/bench.mk
	@mkdir -p $(dir $@)
	$(FW_ARM_CC) $(MPS2_CFLAGS) -I$(MPS2_OUT) -Icsrc/src $(if $(MPS2_PROTO_SRC),-DBENCH_HAVE_PROTO) $(MPS2_BOARD_SRC) \
	    $(BENCH_M4_DIR)/bench.c $(MPS2_PROTO_SRC) $(FW_CORE_SRC) $(MPS2_LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@
