/* td_check.h - the tiny assertion kit of the standalone C tests (one test program per file), and the
 * little-endian byte helpers their profile and message writers share.
 *
 * CHECK counts passes and failures and prints the first failures with their
 * location; a test's main() ends with
 *     printf("test_x: %lu passed, %lu failed\n", g_pass, g_fail);
 *     return g_fail == 0u ? 0 : 1;
 */
#ifndef TINYDRIFT_TESTS_TD_CHECK_H
#define TINYDRIFT_TESTS_TD_CHECK_H

#include <stdint.h>
#include <stdio.h>

/* The tests' pseudo-random numbers: xorshift64 (13, 7, 17) and xorshift32 (13, 17, 5), a state per test file, so
 * every run draws the same cases. */
static inline uint64_t td_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static inline uint32_t td_xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

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

/* Little-endian stores and loads, written out byte by byte so the tests do not share the core's own helpers. */
static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

#endif /* TINYDRIFT_TESTS_TD_CHECK_H */
