# fuzz/fuzz.mk - libFuzzer targets (clang + ASan + UBSan) and the host decoders' fuzzer (atheris); included
# from the top-level Makefile.
#
#     make fuzz                      build every target and run each for FUZZ_SECONDS (default 10)
#     make fuzz FUZZ_SECONDS=600     the same, longer
#     make fuzz FUZZ_RUNS=10000000 FUZZ_SECONDS=86400   stop each target after that many inputs instead
#     make fuzz FUZZ_TARGETS=app     only some of: profile frame app host
#     make fuzz-build                build the C targets only
#     make fuzz-corpus               regenerate the seed corpora (fuzz/make_corpus.py)
#
# A crash, leak, timeout or sanitizer report fails the target; the input is left in build/fuzz/crashes/<target>/
# and its path printed (fuzz/run.sh). Seeds: fuzz/corpus/<target>/ (committed); the corpus a run grows:
# build/fuzz/corpus/<target>/ (kept between runs, not committed). Guarantees and campaign figures:
# docs/security.md.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 10
FUZZ_TARGETS ?= profile frame app host
FUZZ_RUNS ?=
FUZZ_BUILD := build/fuzz
# td_crc32.c is a branch-free table loop: tracing its comparisons costs a fifth of the app target's time and
# guides nothing, so it is left out of the coverage instrumentation (still built with the sanitizers).
FUZZ_FLAGS := -std=c99 -Wall -Wextra -Werror -g -O2 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt
# The harnesses themselves without comparison tracing: their own per-byte loops (feeding byte by byte, checking
# every output frame) would otherwise take most of the time while guiding nothing; edge coverage stays.
FUZZ_HARNESS_FLAGS := -fno-sanitize-coverage=trace-cmp
# The firmware's core options (256-entry CRC table, speed build) and the smallest ring the app allows (64
# records), so a run's telemetry wraps the ring and td_app_init clears less memory.
FUZZ_DEFS := -DTD_CRC32_TABLE_BYTES=1024 -DTD_OPTIMIZE_SPEED=1 -DTD_APP_RING_CAPACITY=64
FUZZ_CORE_SRC := $(wildcard csrc/src/*.c)
FUZZ_APP_SRC := $(wildcard firmware/*.c)
FUZZ_HDR := $(wildcard csrc/include/tinydrift/*.h csrc/src/*.h firmware/*.h fuzz/*.h) tests/c/td_ram_flash.h \
    fuzz/coverage-ignore.txt fuzz/fuzz.mk
# Largest input per target: a profile with its sample tail; a largest frame (363 bytes) and more; a session of
# requests with an upload of a builder profile.
FUZZ_MAX_LEN_profile := 8192
FUZZ_MAX_LEN_frame := 512
FUZZ_MAX_LEN_app := 1024
FUZZ_MAX_LEN_host := 4096
STAMP_FUZZ := $(VENV)/.installed-fuzz
FUZZ_RUNS_OPT := $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS))

.PHONY: fuzz fuzz-tools fuzz-build fuzz-corpus

# clang and its libFuzzer runtime (Debian: clang, libclang-rt-dev).
fuzz-tools:
	@tools/ensure_tools.sh clang:clang
	@[ -f "$$($(FUZZ_CC) -print-runtime-dir)/libclang_rt.fuzzer-$$(uname -m).a" ] || \
	    tools/ensure_tools.sh _libfuzzer_:libclang-rt-dev

fuzz-build: fuzz-tools $(FUZZ_BUILD)/fuzz_profile $(FUZZ_BUILD)/fuzz_frame $(FUZZ_BUILD)/fuzz_app

$(FUZZ_BUILD)/%.o: fuzz/%.c $(FUZZ_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_HARNESS_FLAGS) $(FUZZ_DEFS) -Icsrc/include -Ifirmware -Itests/c -c $< -o $@

$(FUZZ_BUILD)/fuzz_profile $(FUZZ_BUILD)/fuzz_frame: $(FUZZ_BUILD)/%: $(FUZZ_BUILD)/%.o $(FUZZ_CORE_SRC) $(FUZZ_HDR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_DEFS) -Icsrc/include $< $(FUZZ_CORE_SRC) -o $@

$(FUZZ_BUILD)/fuzz_app: $(FUZZ_BUILD)/fuzz_app.o $(FUZZ_APP_SRC) $(FUZZ_CORE_SRC) $(FUZZ_HDR)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_DEFS) -Icsrc/include -Ifirmware $< $(FUZZ_APP_SRC) $(FUZZ_CORE_SRC) -o $@

$(STAMP_FUZZ): $(STAMP)
	$(VPY) -m pip install -q -e '.[test,fuzz]'
	@touch $@

fuzz-corpus: $(STAMP)
	$(VPY) fuzz/make_corpus.py

# Each target in turn (one core); every one runs even if an earlier one failed, and the target fails if any did.
FUZZ_CMD_host = $(VPY) fuzz/fuzz_host.py
FUZZ_CMD_profile = $(FUZZ_BUILD)/fuzz_profile
FUZZ_CMD_frame = $(FUZZ_BUILD)/fuzz_frame
FUZZ_CMD_app = $(FUZZ_BUILD)/fuzz_app
fuzz: fuzz-build $(STAMP_FUZZ)
	@failed=""; \
	$(foreach t,$(FUZZ_TARGETS),fuzz/run.sh $(t) $(FUZZ_SECONDS) $(FUZZ_CMD_$(t)) -max_len=$(FUZZ_MAX_LEN_$(t)) \
	    $(FUZZ_RUNS_OPT) || failed="$$failed $(t)"; ) \
	if [ -n "$$failed" ]; then echo "make fuzz: error: failed:$$failed" >&2; exit 1; fi
