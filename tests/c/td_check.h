/* td_check.h - the tiny assertion kit of the standalone C tests (one test program per file).
 *
 * CHECK counts passes and failures and prints the first failures with their
 * location; a test's main() ends with
 *     printf("test_x: %lu passed, %lu failed\n", g_pass, g_fail);
 *     return g_fail == 0u ? 0 : 1;
 */
#ifndef TINYDRIFT_TESTS_TD_CHECK_H
#define TINYDRIFT_TESTS_TD_CHECK_H

#include <stdio.h>

/* Failures printed before the rest are only counted. */
#define TD_CHECK_MAX_REPORTS 60u

static unsigned long g_pass;
static unsigned long g_fail;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            g_pass++;                                                            \
        } else {                                                                 \
            g_fail++;                                                            \
            if (g_fail <= TD_CHECK_MAX_REPORTS) {                                \
                printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            }                                                                    \
        }                                                                        \
    } while (0)

/* CHECK of two integers that prints both values on failure. */
#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        const long long check_a_ = (long long)(a);                               \
        const long long check_b_ = (long long)(b);                               \
        if (check_a_ == check_b_) {                                              \
            g_pass++;                                                            \
        } else {                                                                 \
            g_fail++;                                                            \
            if (g_fail <= TD_CHECK_MAX_REPORTS) {                                \
                printf("FAIL %s:%d: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__, \
                       #a, #b, check_a_, check_b_);                              \
            }                                                                    \
        }                                                                        \
    } while (0)

/* Inside loops of thousands of cases: report only the loop's first failure (ok_var becomes 0);
 * the loop is then counted once with CHECK(ok_var). */
#define CHECK_QUIET(ok_var, cond)                                                \
    do {                                                                         \
        if (!(cond)) {                                                           \
            if ((ok_var)) {                                                      \
                printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            }                                                                    \
            (ok_var) = 0;                                                        \
        }                                                                        \
    } while (0)

#endif /* TINYDRIFT_TESTS_TD_CHECK_H */
