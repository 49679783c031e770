/* tinydrift.h - umbrella header: include this to use the whole tinydrift core.
 * Depends on: every public tinydrift header.
 */
#ifndef TINYDRIFT_TINYDRIFT_H
#define TINYDRIFT_TINYDRIFT_H

#include "tinydrift/td_calibrate.h"
#include "tinydrift/td_config.h"
#include "tinydrift/td_crc32.h"
#include "tinydrift/td_detector.h"
#include "tinydrift/td_monitor.h"
#include "tinydrift/td_outputs.h"
#include "tinydrift/td_profile.h"
#include "tinydrift/td_stats.h"
#include "tinydrift/td_status.h"

#endif /* TINYDRIFT_TINYDRIFT_H */
