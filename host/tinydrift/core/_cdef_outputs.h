/* cffi declarations of model-output monitoring (csrc/include/tinydrift/td_outputs.h, and td_profile_outputs of
 * td_profile.h, which needs td_outputs_config_t); keep in step with the headers. */
#define TD_MAX_CLASSES ...
#define TD_MAX_CONFIDENCE_BINS ...
#define TD_DDM_OK ...
#define TD_DDM_WARNING ...
#define TD_DDM_DRIFT ...
#define TD_DDM_MIN_LABELS ...

typedef struct {
    uint8_t n_classes;
    uint8_t n_bins;
    uint32_t scale_q24;
    int32_t zero_point;
    uint32_t prior_q16[...];
    uint32_t accuracy_q16[...];
} td_outputs_config_t;
typedef struct {
    uint32_t confidence_sum_q16;
    uint32_t estimate_sum_q16;
    uint16_t count;
    uint16_t histogram[...];
} td_outputs_acc_t;
typedef struct {
    uint16_t count;
    uint32_t mean_confidence_q16;
    uint32_t estimated_accuracy_q16;
    uint32_t prior_shift_q16;
    uint8_t top_class;
} td_outputs_summary_t;
typedef struct {
    uint32_t n;
    uint32_t errors;
    uint32_t min_p_s_q16;
    uint32_t min_p_q16;
    uint32_t min_s_q16;
    uint32_t total;
    uint32_t total_errors;
} td_ddm_t;
td_status td_outputs_check(const td_outputs_config_t *cfg);
td_status td_outputs_reset(td_outputs_acc_t *acc);
td_status td_outputs_push(td_outputs_acc_t *acc, const td_outputs_config_t *cfg, const int8_t *probs,
                          uint32_t n_classes, uint8_t *predicted);
td_status td_outputs_summary(const td_outputs_acc_t *acc, const td_outputs_config_t *cfg,
                             td_outputs_summary_t *out);
td_status td_ddm_init(td_ddm_t *ddm);
td_status td_ddm_update(td_ddm_t *ddm, uint8_t correct, uint8_t *verdict);
uint32_t td_ddm_accuracy_q16(const td_ddm_t *ddm);
td_status td_profile_outputs(const td_profile_t *profile, td_outputs_config_t *out);
