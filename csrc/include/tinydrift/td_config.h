/* td_config.h - compile-time limits of the tinydrift core.
 *
 * Every limit can be overridden with -D on the compiler command line (or by
 * defining it before including any tinydrift header). Smaller limits shrink
 * td_monitor_t; the profile parser rejects profiles that exceed them.
 * Depends on: nothing.
 */
#ifndef TINYDRIFT_TD_CONFIG_H
#define TINYDRIFT_TD_CONFIG_H

/** Maximum number of int16 channels in one frame. */
#ifndef TD_MAX_CHANNELS
#define TD_MAX_CHANNELS 16
#endif

/** Maximum frames per tumbling window. */
#ifndef TD_MAX_WINDOW
#define TD_MAX_WINDOW 1024
#endif

/** Maximum embedding dimensions (PCA components or application embedding length). */
#ifndef TD_MAX_DIMS
#define TD_MAX_DIMS 16
#endif

/** Maximum number of reference centroids. */
#ifndef TD_MAX_CENTROIDS
#define TD_MAX_CENTROIDS 16
#endif

/** Maximum windows of the occupancy test (profiles with an occupancy section); its ring is one byte each. */
#ifndef TD_MAX_OCCUPANCY_WINDOWS
#define TD_MAX_OCCUPANCY_WINDOWS 64
#endif

/** 1: spend about 240 B more flash on a faster window close: exact shifts for a power-of-two count of valid samples,
 *  two projection rows per pass, one SMMULR for a narrow scaled centroid difference. 0 (default): the smallest core,
 *  the one the 8 KB budget counts (tools/size_report.py). Results are identical either way; the firmware builds set 1
 *  (FW_CORE_DEFS in firmware/firmware.mk and boards/mps2-an386/board.mk, the Nano 33 BLE sketch's copy of this
 *  header). */
#ifndef TD_OPTIMIZE_SPEED
#define TD_OPTIMIZE_SPEED 0
#endif

/** 1: the x86-64 speed build (the CFFI module): SSE2/AVX2 paths with the device's results (csrc/src/td_stats_internal.h
 *  lists them) and host-only monitor state (the projection widened to int16, per-centroid constants). Every other
 *  build, the Cortex-M4's included, keeps its state and code. */
#ifndef TD_HOST_X86
#if TD_OPTIMIZE_SPEED && defined(__x86_64__) && defined(__SSE2__)
#define TD_HOST_X86 1
#else
#define TD_HOST_X86 0
#endif
#endif

/* Feature switches: 1 (the default, the full core) or 0 (left out of the build). The smallest core, statistics,
 * health, score and CUSUM, sets them all to 0 (TD_MINIMAL=1 does, tools/size_report.py --minimal measures it). A
 * switched-off feature's profile sections are still validated but ignored: its triggers never fire and its result
 * fields stay 0; every other result is the full core's (tests/c/test_minimal.c). */

/** 1: all TD_FEATURE_* switches default to 0 (statistics, health, PCA embedding, score, CUSUM only). */
#ifndef TD_MINIMAL
#define TD_MINIMAL 0
#endif

/** Feature chart (a signed CUSUM on every feature's fitted shift; profile flag bit for the chart section). */
#ifndef TD_FEATURE_CHART
#define TD_FEATURE_CHART (!TD_MINIMAL)
#endif

/** Channel attribution during a CUSUM run (result top_channel: the channel whose fitted shifts explain the run). */
#ifndef TD_FEATURE_ATTRIBUTION
#define TD_FEATURE_ATTRIBUTION (!TD_MINIMAL)
#endif

/** Occupancy test over the last n windows' nearest centroids (profiles with an occupancy section). */
#ifndef TD_FEATURE_OCCUPANCY
#define TD_FEATURE_OCCUPANCY (!TD_MINIMAL)
#endif

/** Model outputs: prediction histogram, confidence, label-free accuracy estimate, DDM on labels (outputs section). */
#ifndef TD_FEATURE_OUTPUTS
#define TD_FEATURE_OUTPUTS (!TD_MINIMAL)
#endif

/** External-embedding mode (td_monitor_push_embedding); without it td_monitor_init refuses such profiles. */
#ifndef TD_FEATURE_EXTERNAL
#define TD_FEATURE_EXTERNAL (!TD_MINIMAL)
#endif

/** Exact lifetime statistics per channel (td_monitor_lifetime; without it TD_ERR_MODE). */
#ifndef TD_FEATURE_LIFETIME
#define TD_FEATURE_LIFETIME (!TD_MINIMAL)
#endif

/** PCA reconstruction error (profiles keeping fewer dimensions than features: scoring "centroids"); without it
 *  td_monitor_init refuses such profiles (TD_ERR_MODE). The default "mixture" profiles keep every dimension. */
#ifndef TD_FEATURE_RECON
#define TD_FEATURE_RECON (!TD_MINIMAL)
#endif

/** td_profile_size and td_profile_size_outputs (the host's and the tests' size arithmetic; the parser needs neither). */
#ifndef TD_FEATURE_PROFILE_SIZE
#define TD_FEATURE_PROFILE_SIZE (!TD_MINIMAL)
#endif

/** Message strings of td_status_str (without them it returns "" for every code). */
#ifndef TD_FEATURE_STATUS_STRINGS
#define TD_FEATURE_STATUS_STRINGS (!TD_MINIMAL)
#endif

/** Window features per channel: mean and standard deviation. */
#define TD_FEATURES_PER_CHANNEL 2

/** Maximum number of window features. */
#define TD_MAX_FEATURES (TD_MAX_CHANNELS * TD_FEATURES_PER_CHANNEL)

#if TD_MAX_CHANNELS < 1 || TD_MAX_CHANNELS > 16
#error "TD_MAX_CHANNELS must be 1..16 (the profile format stores channel masks in 16 bits)"
#endif
#if TD_MAX_WINDOW < 2 || TD_MAX_WINDOW > 1024
#error "TD_MAX_WINDOW must be 2..1024 (int32 window sums assume W * 32768 < 2^31)"
#endif
#if TD_MAX_DIMS < 1 || TD_MAX_DIMS > 64
#error "TD_MAX_DIMS must be 1..64"
#endif
#if TD_MAX_CENTROIDS < 1 || TD_MAX_CENTROIDS > 64
#error "TD_MAX_CENTROIDS must be 1..64"
#endif

#if TD_MAX_OCCUPANCY_WINDOWS < 2 || TD_MAX_OCCUPANCY_WINDOWS > 255
#error "TD_MAX_OCCUPANCY_WINDOWS must be 2..255"
#endif

#endif /* TINYDRIFT_TD_CONFIG_H */
