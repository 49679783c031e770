/* td_fixed.h - private fixed-point helpers shared by the core's translation units.
 *
 * Rounding convention everywhere: to nearest, ties away from zero, so a value
 * and its negation round symmetrically and the host (CFFI build) and device
 * agree bit for bit regardless of the compiler's signed-shift behaviour.
 * Depends on: <stdint.h>.
 */
#ifndef TINYDRIFT_TD_FIXED_H
#define TINYDRIFT_TD_FIXED_H

#include <stdint.h>
#include <string.h>

#include "tinydrift/td_config.h"

/* -Os would otherwise leave the one-instruction loads below as calls inside the window-close loops. */
#if defined(__GNUC__)
#define TD_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TD_ALWAYS_INLINE inline
#endif

/* Out of line where a caller's loop needs its registers more than the call costs (GCC, clang). */
#if defined(__GNUC__) || defined(__clang__)
#define TD_NOINLINE __attribute__((noinline))
#define TD_UNLIKELY(c) __builtin_expect(!!(c), 0)
#else
#define TD_NOINLINE
#define TD_UNLIKELY(c) (c)
#endif

/* The Cortex-M4's DSP extension in the speed build (GCC's inline assembly): the blocks under it are the device's
 * own forms of loops that give the same integers; make test-core-m4 runs them in QEMU. */
#if TD_OPTIMIZE_SPEED && defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#define TD_ARM_DSP 1
#else
#define TD_ARM_DSP 0
#endif

/* The Cortex-M4F speed build (a single-precision FPU: every firmware and the Arduino build use -mfpu=fpv4-sp-d16,
 * hard or softfp): the window close's std of 2^p samples (td_std_q8_pow2, td_stats_internal.h) takes a float root
 * and an exact integer fix-up; the same values as td_isqrt64_shl. */
#if TD_OPTIMIZE_SPEED && defined(__ARM_FP) && (__ARM_FP & 4) && defined(__GNUC__)
#define TD_ARM_FPU 1
#else
#define TD_ARM_FPU 0
#endif

/* Single-precision square root, correctly rounded (IEEE 754): VSQRT.F32 on an FPU, else the compiler's. */
static inline float td_sqrt_f32(float x)
{
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__GNUC__)
    float r;
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
    return r;
#else
    return __builtin_sqrtf(x);
#endif
}

/* Magnitude of a signed 64-bit value; callers never pass INT64_MIN. */
static inline uint64_t td_abs64(int64_t v)
{
    return v < 0 ? (uint64_t)(-v) : (uint64_t)v;
}

/* Magnitude of a signed 32-bit value, total (INT32_MIN gives 2^31). */
static TD_ALWAYS_INLINE uint32_t td_abs32(int32_t v)
{
    return v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
}

/* Leading zero bits of a non-zero 32-bit value (the CLZ instruction on a Cortex-M4). */
static TD_ALWAYS_INLINE uint32_t td_clz32(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_clz(x);
#else
    uint32_t n = 0u;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* v / 2^shift rounded to nearest, ties away from zero; shift 1..62. */
static inline int64_t td_round_shift(int64_t v, unsigned shift)
{
    const uint64_t half = (uint64_t)1 << (shift - 1u);
    const uint64_t mag = (td_abs64(v) + half) >> shift;
    return v < 0 ? -(int64_t)mag : (int64_t)mag;
}

/* num / den (the full 64-bit quotient, rounded down) for den > 0, with 32-bit divisions only, so
 * no libgcc 64-bit division routine is linked. Defined in td_stats.c. */
uint64_t td_udiv64_32(uint64_t num, uint32_t den);

/* num / den rounded to nearest, ties away from zero, for a divisor that fits 32 bits; den > 0,
 * |num| < 2^62. No 64-bit division. Defined in td_stats.c. */
int64_t td_round_div32(int64_t num, uint32_t den);

/* Clamp to the int16 range. */
static inline int16_t td_sat_i16(int64_t v)
{
    return v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : (int16_t)v);
}

/* Clamp to [-limit, limit]. */
static inline int64_t td_clamp64(int64_t v, int64_t limit)
{
    return v > limit ? limit : (v < -limit ? -limit : v);
}

/* Clamp an unsigned value to the uint32 range. */
static inline uint32_t td_sat_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Little-endian loads from a byte buffer (alignment-free, so flash slots need no alignment). */
static TD_ALWAYS_INLINE uint16_t td_load_u16(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t v; /* one (unaligned) load: GCC does not always merge the byte loads below, e.g. in cold code */
    memcpy(&v, p, sizeof v);
    return v;
#else
    return (uint16_t)(p[0] | (p[1] << 8));
#endif
}

static TD_ALWAYS_INLINE uint32_t td_load_u32(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
#else
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
#endif
}

static TD_ALWAYS_INLINE int16_t td_load_i16(const uint8_t *p)
{
    return (int16_t)td_load_u16(p);
}

static TD_ALWAYS_INLINE int32_t td_load_i32(const uint8_t *p)
{
    return (int32_t)td_load_u32(p);
}

#endif /* TINYDRIFT_TD_FIXED_H */
