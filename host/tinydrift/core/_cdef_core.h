/* cffi declarations of the tinydrift core (csrc/include/tinydrift); keep in step with the headers. */
#define TD_MAX_CHANNELS ...
#define TD_MAX_WINDOW ...
#define TD_MAX_DIMS ...
#define TD_MAX_CENTROIDS ...
#define TD_MAX_FEATURES ...
#define TD_PROFILE_VERSION ...
#define TD_PROFILE_HEADER_SIZE ...
#define TD_PROFILE_CHANNEL_SIZE ...
#define TD_PROFILE_FEATURE_SIZE ...
#define TD_PROFILE_FLAG_EXTERNAL_EMBEDDING ...
#define TD_PROFILE_FLAG_OUTPUTS ...
#define TD_PROFILE_FLAG_LOG_STD ...
#define TD_PROFILE_FLAG_CENTROID_SCALES ...
#define TD_PROFILE_FLAG_OCCUPANCY ...
#define TD_PROFILE_FLAG_FEATURE_CHART ...
#define TD_PROFILE_CHART_HEADER_SIZE ...
#define TD_PROFILE_CHART_MAX_ROOT ...
#define TD_MAX_OCCUPANCY_WINDOWS ...
#define TD_CENTROID_SCALE_SHIFT ...
#define TD_PROFILE_OUTPUTS_HEADER_SIZE ...
#define TD_CHANNEL_FLAG_STUCK_CHECK ...
#define TD_CHANNEL_FLAG_SENTINEL ...
#define TD_TRIGGER_INSTANT ...
#define TD_TRIGGER_CUSUM ...
#define TD_TRIGGER_HEALTH ...
#define TD_TRIGGER_CONCEPT ...
#define TD_TRIGGER_OCCUPANCY ...
#define TD_TRIGGER_FEATURE ...
#define TD_MAX_PENDING_PREDICTIONS ...
#define TD_MAX_EMBEDDINGS_PER_WINDOW ...

typedef enum {
    TD_OK = 0,
    TD_ERR_ARG = -1,
    TD_ERR_TRUNCATED = -2,
    TD_ERR_MAGIC = -3,
    TD_ERR_VERSION = -4,
    TD_ERR_CRC = -5,
    TD_ERR_SIZE = -6,
    TD_ERR_LIMIT = -7,
    TD_ERR_RANGE = -8,
    TD_ERR_CAPACITY = -9,
    TD_ERR_STATE = -10,
    TD_ERR_MODE = -11
} td_status;
const char *td_status_str(td_status status);

uint32_t td_crc32_update(uint32_t crc, const uint8_t *data, size_t len);

typedef struct {
    int64_t sumsq;
    int32_t sum;
    int16_t min;
    int16_t max;
    uint16_t n_missing;
    uint16_t n_saturated;
    uint16_t n_samples;
    ...;
} td_window_acc_t;
typedef struct {
    int16_t rail_lo;
    int16_t rail_hi;
    int16_t sentinel;
    uint8_t use_sentinel;
} td_sample_rules_t;
typedef struct {
    uint64_t n;
    int64_t sum;
    uint64_t sumsq_lo;
    uint64_t sumsq_hi;
} td_lifetime_t;
td_status td_window_reset(td_window_acc_t *acc);
td_status td_window_add(td_window_acc_t *acc, const td_sample_rules_t *rules, const int16_t *samples,
                        uint32_t stride, uint32_t n);
int32_t td_mean_q8(int32_t sum, uint32_t n);
uint64_t td_var_q32(int32_t sum, int64_t sumsq, uint32_t n);
int32_t td_std_q8(uint64_t var_q32);
uint32_t td_isqrt64(uint64_t value);
td_status td_lifetime_init(td_lifetime_t *life);
td_status td_lifetime_get(const td_lifetime_t *life, uint64_t *n, int64_t *mean_q32, uint64_t *var_q32);
td_status td_lifetime_merge(td_lifetime_t *life, uint32_t n, int32_t sum, int64_t sumsq);

typedef struct {
    uint32_t k_q8;
    uint32_t h_q8;
    uint32_t instant_q8;
} td_detector_params_t;
typedef struct {
    uint32_t cusum_q8;
    uint8_t alarm;
} td_detector_t;
td_status td_detector_reset(td_detector_t *det);
td_status td_detector_update(td_detector_t *det, const td_detector_params_t *params, uint32_t score_q8,
                             uint8_t *trigger);
td_status td_detector_count_alarms(const td_detector_params_t *params, const uint32_t *scores, uint32_t n,
                                   uint32_t *n_alarms);
uint32_t td_chart_step(uint16_t *stats, const int16_t *shift_q8, uint32_t n_features, uint32_t k_q8);
td_status td_chart_count_alarms(uint32_t k_q8, uint32_t h_q8, const int16_t *shifts_q8, uint32_t n_windows,
                                uint32_t n_features, uint32_t *n_alarms);

typedef struct {
    const uint8_t *blob;
    uint32_t size;
    uint32_t profile_id;
    uint32_t created_unix;
    uint16_t flags;
    uint16_t window;
    uint8_t n_channels;
    uint8_t n_features;
    uint8_t n_dims;
    uint8_t n_centroids;
    uint8_t proj_shift;
    uint32_t false_alarm_ppb;
    uint32_t cusum_k_q8;
    uint32_t cusum_h_q8;
    uint32_t instant_q8;
    uint32_t ext_scale_q24;
    int32_t ext_zero_point;
    const uint8_t *channels;
    const uint8_t *features;
    const uint8_t *projection;
    const uint8_t *centroids;
    const uint8_t *centroid_scales;
    const uint8_t *occupancy;
    const uint8_t *feature_chart;
    const uint8_t *outputs;
} td_profile_t;
typedef struct {
    int16_t rail_lo;
    int16_t rail_hi;
    int16_t sentinel;
    uint16_t flags;
    uint16_t stuck_tolerance;
    uint16_t max_missing;
    uint16_t max_saturated;
    uint16_t std_floor;
    int32_t ref_mean_q8;
    int32_t ref_std_q8;
} td_channel_config_t;
td_status td_profile_parse(td_profile_t *out, const uint8_t *blob, size_t len);
td_status td_profile_channel(const td_profile_t *profile, uint8_t channel, td_channel_config_t *out);
uint32_t td_profile_size(uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint16_t flags);
uint32_t td_profile_size_outputs(uint8_t n_channels, uint8_t n_dims, uint8_t n_centroids, uint16_t flags,
                                 uint8_t n_classes, uint8_t n_bins);

typedef struct {
    int64_t sumsq;
    int32_t sum;
    int32_t mean_q8;
    int32_t std_q8;
    int16_t min;
    int16_t max;
    int16_t z_mean_q8;
    int16_t z_std_q8;
    uint16_t n_missing;
    uint16_t n_saturated;
} td_channel_result_t;
typedef struct {
    uint32_t window_index;
    uint32_t score_q8;
    uint32_t dist_q8;
    uint32_t recon_q8;
    uint32_t cusum_q8;
    int32_t embedding_q8[...];
    uint16_t n_embeddings;
    uint16_t stuck_mask;
    uint16_t saturated_mask;
    uint16_t missing_mask;
    uint8_t trigger;
    uint8_t alarm;
    uint8_t nearest;
    uint8_t top_channel;
    uint16_t n_inferences;
    uint8_t top_class;
    uint8_t ddm_state;
    uint32_t mean_confidence_q16;
    uint32_t estimated_accuracy_q16;
    uint32_t prior_shift_q16;
    uint16_t n_labels;
    uint16_t n_correct;
    uint32_t accuracy_q16;
    int32_t occupancy_q8;
    int16_t shift_q8[...];
    uint16_t chart_q8;
    td_channel_result_t channels[...];
} td_window_result_t;
typedef struct {
    ...;
} td_monitor_t;
td_status td_monitor_init(td_monitor_t *mon, const td_profile_t *profile);
td_status td_monitor_push(td_monitor_t *mon, const int16_t *frames, uint32_t n_frames, td_window_result_t *results,
                          uint32_t cap, uint32_t *n_results);
td_status td_monitor_push_embedding(td_monitor_t *mon, const int8_t *embedding, uint32_t len);
td_status td_monitor_push_outputs(td_monitor_t *mon, const int8_t *probs, uint32_t n_classes,
                                  uint32_t *inference_seq);
td_status td_monitor_push_label(td_monitor_t *mon, uint32_t inference_seq, uint8_t label);
td_status td_monitor_reset_alarm(td_monitor_t *mon);
td_status td_monitor_lifetime(const td_monitor_t *mon, uint8_t channel, td_lifetime_t *out);
uint32_t td_log2_q8(uint32_t x);
