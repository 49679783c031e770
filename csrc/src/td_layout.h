/* td_layout.h - private byte offsets of a profile's channel record (docs/profile-format.md), shared by the parser
 * and the monitor: the window close reads the few fields it needs straight from the blob instead of decoding the
 * whole record every window.
 * Depends on: nothing.
 */
#ifndef TINYDRIFT_TD_LAYOUT_H
#define TINYDRIFT_TD_LAYOUT_H

#define TD_CH_RAIL_LO 0u
#define TD_CH_RAIL_HI 2u
#define TD_CH_SENTINEL 4u
#define TD_CH_FLAGS 6u
#define TD_CH_STUCK_TOL 8u
#define TD_CH_MAX_MISSING 10u
#define TD_CH_MAX_SATURATED 12u
#define TD_CH_STD_FLOOR 14u
#define TD_CH_REF_MEAN 16u
#define TD_CH_REF_STD 20u

#endif /* TINYDRIFT_TD_LAYOUT_H */
