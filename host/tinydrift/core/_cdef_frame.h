/* cffi declarations of the device-link frame codec (csrc/include/tinydrift/td_frame.h); keep in step with the header.
 * Needs td_status from _cdef_core.h (declared earlier: files are read in sorted order). */
#define TD_FRAME_VERSION ...
#define TD_FRAME_HEADER_SIZE ...
#define TD_FRAME_CRC_SIZE ...
#define TD_FRAME_MAX_PAYLOAD ...
#define TD_FRAME_MIN_BODY ...
#define TD_FRAME_MAX_BODY ...
#define TD_FRAME_MAX_WIRE ...

typedef struct {
    uint8_t type;
    uint16_t seq;
    uint16_t payload_len;
    uint8_t payload[...];
} td_frame_t;
typedef struct {
    uint32_t n_frames;
    uint32_t n_crc_errors;
    uint32_t n_format_errors;
    uint32_t n_overflows;
    ...;
} td_frame_decoder_t;

td_status td_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);
td_status td_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);
td_status td_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t payload_len,
                          uint8_t *wire, size_t cap, size_t *wire_len);
td_status td_frame_decode(const uint8_t *wire, size_t len, td_frame_t *frame);
td_status td_frame_decoder_init(td_frame_decoder_t *dec);
td_status td_frame_decoder_feed(td_frame_decoder_t *dec, const uint8_t *data, size_t len, size_t *consumed,
                                td_frame_t *frame);
