/* size_probe.c - references every public entry point of the monitor core so a --gc-sections link
 * keeps exactly what an application using the whole core would, and exposes the state sizes. */
#include "tinydrift/tinydrift.h"

td_monitor_t size_probe_monitor;
td_window_result_t size_probe_result;
td_profile_t size_probe_profile;

int main(void);

int main(void)
{
    static const uint8_t blob[TD_PROFILE_HEADER_SIZE] = {0};
    static const int16_t frames[TD_MAX_CHANNELS] = {0};
    static const int8_t emb[TD_MAX_DIMS] = {0};
    static const int8_t probs[TD_MAX_CLASSES] = {0};
    uint32_t n = 0;
    uint32_t seq = 0;
    td_outputs_config_t outputs;
    td_lifetime_t life;
    int rc = 0;
    rc |= td_profile_parse(&size_probe_profile, blob, sizeof blob);
    rc |= td_monitor_init(&size_probe_monitor, &size_probe_profile);
    rc |= td_monitor_push(&size_probe_monitor, frames, 1, &size_probe_result, 1, &n);
    rc |= td_monitor_push_embedding(&size_probe_monitor, emb, 1);
    rc |= td_monitor_push_outputs(&size_probe_monitor, probs, 2, &seq);
    rc |= td_monitor_push_label(&size_probe_monitor, seq, 0);
    rc |= td_profile_outputs(&size_probe_profile, &outputs);
    rc |= td_monitor_reset_alarm(&size_probe_monitor);
    rc |= td_monitor_lifetime(&size_probe_monitor, 0, &life);
    return rc + (int)td_status_str(TD_OK)[0];
}
