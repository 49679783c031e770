/* fuzz_check.h - the fuzz targets' one assertion: a failed check traps, so libFuzzer saves the input. */
#ifndef TD_FUZZ_CHECK_H
#define TD_FUZZ_CHECK_H

#define CHECK(cond)                                                                                              \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            __builtin_trap();                                                                                    \
        }                                                                                                        \
    } while (0)

#endif
