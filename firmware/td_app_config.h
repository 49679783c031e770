/* td_app_config.h - compile-time sizes of the firmware application (ring, profile slots, profile buffer).
 *
 * Every value can be overridden with -D on the compiler command line. The
 * defaults fit the largest profile the core's limits (td_config.h) allow.
 * Depends on: tinydrift/td_config.h, tinydrift/td_outputs.h (TD_MAX_CLASSES, TD_MAX_CONFIDENCE_BINS).
 */
#ifndef TINYDRIFT_TD_APP_CONFIG_H
#define TINYDRIFT_TD_APP_CONFIG_H

#include "tinydrift/td_config.h"
#include "tinydrift/td_outputs.h"
#include "tinydrift/td_profile.h"

/** Telemetry records the ring buffer keeps for FETCH (each takes 76 + 16 * TD_MAX_CHANNELS bytes of RAM). */
#ifndef TD_APP_RING_CAPACITY
#define TD_APP_RING_CAPACITY 128
#endif

/** Bytes reserved per profile slot in storage; rounded up to whole erase pages at run time. */
#ifndef TD_APP_SLOT_SIZE
#define TD_APP_SLOT_SIZE 4096
#endif

/** Bytes of the commit header at the start of each slot (magic, generation, size, crc32). */
#define TD_APP_SLOT_HEADER_SIZE 16

/** Largest profile td_profile_size_outputs() can return under the core's limits (PCA mode, the projection padded
 *  to 4 bytes, centroid scales, an occupancy section, a feature chart section of 4 + 4 * TD_MAX_CENTROIDS *
 *  TD_MAX_FEATURES bytes, plus a maximal outputs section of 12 + 4 * TD_MAX_CLASSES + 4 * TD_MAX_CONFIDENCE_BINS
 *  bytes, plus a channel names section of TD_PROFILE_NAMES_MAX_SIZE bytes). */
#define TD_APP_PROFILE_SIZE_BOUND                                                                 \
    (64 + 40 * TD_MAX_CHANNELS + (TD_MAX_DIMS * 2 * TD_MAX_CHANNELS + 3) / 4 * 4 +                \
     4 * TD_MAX_CENTROIDS * TD_MAX_DIMS + 4 * TD_MAX_CENTROIDS * (TD_MAX_DIMS + 1) +              \
     8 + (2 * TD_MAX_CENTROIDS + 3) / 4 * 4 + 4 + 4 * TD_MAX_CENTROIDS * 2 * TD_MAX_CHANNELS + 12 +  \
     4 * TD_MAX_CLASSES + 4 * TD_MAX_CONFIDENCE_BINS + TD_PROFILE_NAMES_MAX_SIZE + 4)

/** Largest profile blob the device accepts; the app keeps two RAM buffers of this size (active + upload). The
 *  bound, or what a slot holds after its header when the bound is larger (every section at its limit, which the
 *  16-channel default reaches with the feature chart: 5,564 B); a larger upload is refused at UPLOAD_BEGIN. */
#ifndef TD_APP_MAX_PROFILE
#if TD_APP_PROFILE_SIZE_BOUND > TD_APP_SLOT_SIZE - TD_APP_SLOT_HEADER_SIZE
#define TD_APP_MAX_PROFILE (TD_APP_SLOT_SIZE - TD_APP_SLOT_HEADER_SIZE)
#else
#define TD_APP_MAX_PROFILE TD_APP_PROFILE_SIZE_BOUND
#endif
#endif

#if TD_APP_RING_CAPACITY < 64 || TD_APP_RING_CAPACITY > 65535
#error "TD_APP_RING_CAPACITY must be 64..65535 (INFO reports it as a u16)"
#endif
#if TD_APP_SLOT_SIZE < 256 || (TD_APP_SLOT_SIZE % 256) != 0
#error "TD_APP_SLOT_SIZE must be a positive multiple of 256 bytes"
#endif
#if TD_APP_MAX_PROFILE < 68
#error "TD_APP_MAX_PROFILE must hold at least a profile header and its CRC (68 bytes)"
#endif
#if TD_APP_MAX_PROFILE > TD_APP_SLOT_SIZE - TD_APP_SLOT_HEADER_SIZE
#error "TD_APP_MAX_PROFILE must fit in a slot after its 16-byte commit header"
#endif

#endif /* TINYDRIFT_TD_APP_CONFIG_H */
