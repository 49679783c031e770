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
