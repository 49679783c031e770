/* hal_mps2.c - td_hal.h on QEMU's mps2-an386 (Cortex-M4F): UART0 link, SysTick clock,
 * semihosting-file storage with flash semantics, persisted boot counter, a
 * sensor that plays a recording file through semihosting ("sensor=PATH" on the command line).
 *
 * Storage: one host file, opened through ARM semihosting (QEMU option
 * -semihosting-config enable=on,target=native), default "tinydrift-storage.bin" in
 * QEMU's working directory; a "storage=PATH" word in QEMU's -append string picks
 * another file. Layout of the file (the same as boards/host's, so state files are interchangeable):
 *     [0, 8192)        the application's storage region (td_hal_storage_*): two 4 KB pages
 *     [8192, 12288)    page private to this HAL: "TDBC" | u32 count (the boot id) at 0,
 *                      "TDID" | u64 device uid at 8 (td_hal_device_uid)
 * Device uid: this board has no factory id and QEMU no hardware RNG. A "device_id=HEX" word in
 * -append sets it (written to the file, replacing a stored one); without it the stored one is
 * kept; a file without one gets an id derived from the host clock's seconds and the storage path
 * (splitmix64), written once. Two fresh files first booted in the same second under the same
 * path name would get the same id, so `tinydrift sim --board qemu` passes a random device_id=
 * at the first start of a state directory.
 * The whole file is mirrored in RAM; reads come from the mirror, erases and writes go
 * to the mirror and straight through to the file (write(2) on the host, so a killed
 * QEMU keeps everything written before). Flash rules are enforced, not just emulated:
 * erase works on whole 4 KB pages (sets 0xFF), writes are 4-byte aligned and rejected
 * with TD_ERR_STATE if any target byte is not erased, so firmware bugs that real
 * flash would turn into silent corruption fail loudly here.
 * Without semihosting the storage lives in RAM only (erased at every boot) and the
 * boot id is 1.
 * Depends on: td_hal.h, mps2.h, semihost.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mps2.h"
#include "semihost.h"
#include "td_hal.h"

#ifndef MPS2_STORAGE_FILE
#define MPS2_STORAGE_FILE "tinydrift-storage.bin"
#endif
#ifndef MPS2_STORAGE_PAGES
#define MPS2_STORAGE_PAGES 2u /* two 4 KB pages, like the Nano 33 BLE's profile slots */
#endif
#define PAGE_SIZE 4096u
#define STORAGE_SIZE (MPS2_STORAGE_PAGES * PAGE_SIZE)
#define BOOT_PAGE STORAGE_SIZE /* file offset of the boot counter page */
#define FILE_SIZE (STORAGE_SIZE + PAGE_SIZE)
#define BOOT_MAGIC 0x43424454u /* "TDBC" little-endian */
#define UID_MAGIC 0x44494454u  /* "TDID" little-endian */

static uint8_t g_file[FILE_SIZE] __attribute__((aligned(4)));
static int32_t g_fd = -1;
static uint32_t g_boot_id = 1u;
static uint64_t g_device_uid;
static volatile uint32_t g_ms;
static char g_path[128];
/* The sensor: a recorded stream (raw int16 LE, interleaved) read through semihosting, "sensor=PATH". */
static char g_sensor_path[128];
static int32_t g_sensor_fd = -1;
static uint16_t g_sensor_rate_hz;
static uint32_t g_sensor_start_ms;
static uint64_t g_sensor_frames;

void SysTick_Handler(void)
{
    g_ms++;
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The value of "KEY=VALUE" on the semihosting command line (QEMU -append) into out, or 0 when absent. */
static int cmdline_value(const char *key, char *out, size_t cap)
{
    static char cmdline[256];
    static int have = -1;
    if (have < 0) {
        uint32_t args[2] = {(uint32_t)(uintptr_t)cmdline, sizeof cmdline - 1u};
        have = sh_available() && sh_call(0x15u /* SYS_GET_CMDLINE */, args) == 0;
        cmdline[sizeof cmdline - 1u] = '\0';
    }
    const size_t klen = strlen(key);
    const char *p = have ? cmdline : "";
    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            p += klen + 1u;
            size_t n = 0;
            while (p[n] != '\0' && p[n] != ' ' && n < cap - 1u) {
                out[n] = p[n];
                n++;
            }
            out[n] = '\0';
            if (n > 0u) {
                return 1;
            }
        }
        while (*p != '\0' && *p != ' ') {
            p++;
        }
    }
    return 0;
}

/* Storage path: "storage=PATH" from the semihosting command line, else the default. */
static const char *storage_path(void)
{
    return cmdline_value("storage", g_path, sizeof g_path) ? g_path : MPS2_STORAGE_FILE;
}

/* Write g_file[offset, offset + len) through to the file. */
static td_status flush_range(uint32_t offset, uint32_t len)
{
    if (g_fd < 0) {
        return TD_OK; /* RAM-only storage */
    }
    if (sh_seek(g_fd, offset) != 0 || sh_write(g_fd, &g_file[offset], len) != 0) {
        return TD_ERR_STATE;
    }
    return TD_OK;
}

static void storage_open(void)
{
    memset(g_file, 0xFF, sizeof g_file);
    if (!sh_available()) {
        return;
    }
    const char *path = storage_path();
    g_fd = sh_open(path, SH_MODE_RPLUSB);
    if (g_fd >= 0) {
        int32_t len = sh_flen(g_fd);
        if (len > (int32_t)FILE_SIZE) {
            len = (int32_t)FILE_SIZE;
        }
        if (len > 0 && (sh_seek(g_fd, 0u) != 0 || sh_read(g_fd, g_file, (uint32_t)len) != 0)) {
            memset(g_file, 0xFF, sizeof g_file); /* unreadable: start from erased flash */
        }
        if (len < (int32_t)FILE_SIZE) {
            (void)flush_range(0u, FILE_SIZE); /* grow a short or new file to full size, erased */
        }
        return;
    }
    g_fd = sh_open(path, SH_MODE_WPLUSB);
    if (g_fd >= 0) {
        (void)flush_range(0u, FILE_SIZE);
    }
}

/* Boot id = persisted counter + 1. A fresh file seeds the counter from the host clock so two
 * fresh storage files (two test runs) do not hand out the same boot ids. */
static void boot_count(void)
{
    uint8_t *page = &g_file[BOOT_PAGE];
    uint32_t next;
    if (load_u32(&page[0]) == BOOT_MAGIC) {
        next = load_u32(&page[4]) + 1u;
    } else {
        const int32_t now = sh_time();
        next = now > 0 ? (uint32_t)now << 8 : 1u;
    }
    if (next == 0u) {
        next = 1u;
    }
    g_boot_id = next;
    store_u32(&page[0], BOOT_MAGIC);
    store_u32(&page[4], next);
    (void)flush_range(BOOT_PAGE, 8u);
}

/* splitmix64's finaliser: spreads a few bits of entropy over all 64. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Parse 1 to 16 hex digits (an optional 0x); 0 when text is not one. */
static uint64_t parse_hex64(const char *text)
{
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text += 2;
    }
    uint64_t v = 0;
    size_t n = 0;
    for (; text[n] != '\0'; n++) {
        const char c = text[n];
        const uint32_t d = c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
                           : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                           : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10)
                                                  : 16u;
        if (d > 15u || n >= 16u) {
            return 0u;
        }
        v = v << 4 | d;
    }
    return v;
}

/* The device uid (file header above): device_id= on the command line, else the stored one, else derived. */
static void device_uid_load(void)
{
    uint8_t *rec = &g_file[BOOT_PAGE + 8u];
    const uint64_t stored = load_u32(&rec[0]) == UID_MAGIC ? (uint64_t)load_u32(&rec[4]) | (uint64_t)load_u32(&rec[8]) << 32
                                                           : 0u;
    char text[24];
    uint64_t uid = cmdline_value("device_id", text, sizeof text) ? parse_hex64(text) : 0u;
    if (uid == 0u) {
        uid = stored;
    }
    if (uid == 0u) {
        uint64_t seed = (uint64_t)(uint32_t)sh_time() << 32;
        for (const char *p = storage_path(); *p != '\0'; p++) {
            seed = mix64(seed ^ (uint8_t)*p);
        }
        uid = mix64(seed) | 1u; /* never 0: 0 means "no id" in INFO */
    }
    g_device_uid = uid;
    if (uid != stored) {
        store_u32(&rec[0], UID_MAGIC);
        store_u32(&rec[4], (uint32_t)uid);
        store_u32(&rec[8], (uint32_t)(uid >> 32));
        (void)flush_range(BOOT_PAGE + 8u, 12u);
    }
}

td_status td_hal_init(void)
{
    mps2_uart_init();
    /* 1 ms SysTick interrupt from the 25 MHz processor clock. */
    SYST_CSR = 0u;
    SYST_RVR = MPS2_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0u;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    storage_open();
    boot_count();
    device_uid_load();
    mps2_enable_irq();
    return TD_OK;
}

size_t td_hal_link_read(uint8_t *buf, size_t cap)
{
    if (buf == NULL || cap == 0u) {
        return 0u;
    }
    return mps2_uart_read(buf, cap > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)cap);
}

td_status td_hal_link_write(const uint8_t *data, size_t len)
{
    if (data == NULL && len > 0u) {
        return TD_ERR_ARG;
    }
    mps2_uart_write(data, (uint32_t)len);
    return TD_OK;
}

uint32_t td_hal_time_ms(void)
{
    return g_ms;
}

uint32_t td_hal_boot_id(void)
{
    return g_boot_id;
}

uint64_t td_hal_device_uid(void)
{
    return g_device_uid;
}

uint32_t td_hal_storage_size(void)
{
    return STORAGE_SIZE;
}

uint32_t td_hal_storage_page_size(void)
{
    return PAGE_SIZE;
}

static int in_range(uint32_t offset, uint32_t len)
{
    return offset <= STORAGE_SIZE && len <= STORAGE_SIZE - offset;
}

td_status td_hal_storage_read(uint32_t offset, uint8_t *buf, uint32_t len)
{
    if (buf == NULL && len > 0u) {
        return TD_ERR_ARG;
    }
    if (!in_range(offset, len)) {
        return TD_ERR_RANGE;
    }
    if (len > 0u) {
        memcpy(buf, &g_file[offset], len);
    }
    return TD_OK;
}

td_status td_hal_storage_erase(uint32_t offset, uint32_t len)
{
    if (offset % PAGE_SIZE != 0u || len % PAGE_SIZE != 0u) {
        return TD_ERR_ARG;
    }
    if (!in_range(offset, len)) {
        return TD_ERR_RANGE;
    }
    if (len == 0u) {
        return TD_OK;
    }
    memset(&g_file[offset], 0xFF, len);
    return flush_range(offset, len);
}

td_status td_hal_storage_write(uint32_t offset, const uint8_t *data, uint32_t len)
{
    if ((data == NULL && len > 0u) || offset % 4u != 0u || len % 4u != 0u) {
        return TD_ERR_ARG;
    }
    if (!in_range(offset, len)) {
        return TD_ERR_RANGE;
    }
    uint8_t *dst = &g_file[offset];
    for (uint32_t i = 0; i < len; i++) {
        if (dst[i] != 0xFFu) {
            return TD_ERR_STATE; /* flash can only be written once per erase */
        }
    }
    if (len == 0u) {
        return TD_OK;
    }
    memcpy(dst, data, len);
    return flush_range(offset, len);
}

td_status td_hal_sensor_start(uint16_t rate_hz)
{
    if (rate_hz == 0u) {
        g_sensor_rate_hz = 0u;
        return TD_OK;
    }
    if (g_sensor_fd < 0) {
        if (!cmdline_value("sensor", g_sensor_path, sizeof g_sensor_path)) {
            return TD_ERR_MODE; /* no sensor file: frames only arrive by INJECT */
        }
        g_sensor_fd = sh_open(g_sensor_path, SH_MODE_RB);
        if (g_sensor_fd < 0) {
            return TD_ERR_STATE;
        }
    }
    /* Restarting keeps the file position: sampling resumes where it stopped, like a live sensor. */
    g_sensor_rate_hz = rate_hz;
    g_sensor_start_ms = g_ms;
    g_sensor_frames = 0u;
    return TD_OK;
}

int td_hal_sensor_read(int16_t *frame, uint8_t n_channels)
{
    if (g_sensor_rate_hz == 0u || g_sensor_fd < 0 || frame == NULL || n_channels == 0u) {
        return 0;
    }
    const uint64_t elapsed_ms = (uint32_t)(g_ms - g_sensor_start_ms);
    if (g_sensor_frames >= elapsed_ms * g_sensor_rate_hz / 1000u) {
        return 0; /* next frame not due yet */
    }
    uint8_t raw[2u * 255u];
    const uint32_t need = 2u * n_channels;
    if (sh_read(g_sensor_fd, raw, need) != 0) {
        g_sensor_rate_hz = 0u; /* end of the recording: the sensor goes quiet */
        return 0;
    }
    for (uint32_t c = 0; c < n_channels; c++) {
        frame[c] = (int16_t)(uint16_t)(raw[2u * c] | (raw[2u * c + 1u] << 8));
    }
    g_sensor_frames++;
    return 1;
}

uint16_t mps2_sensor_autostart_rate(void)
{
    char text[8];
    if (!cmdline_value("sensor_rate", text, sizeof text)) {
        return 0u;
    }
    uint32_t v = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > 6553u) {
            return 0u;
        }
        v = v * 10u + (uint32_t)(*p - '0');
    }
    return v <= 65535u ? (uint16_t)v : 0u;
}

void td_hal_idle(void)
{
    /* Sleep until the next interrupt (a received byte or the 1 ms tick), unless a byte is
     * already waiting. PRIMASK is set around the check so a byte arriving in between still
     * wakes WFI (a pending interrupt ends WFI even while masked). */
    mps2_disable_irq();
    if (!mps2_uart_rx_pending()) {
        mps2_wfi();
    }
    mps2_enable_irq();
}

uint8_t td_hal_board_id(void)
{
    return (uint8_t)TD_BOARD_MPS2_AN386;
}

const char *td_hal_board_name(void)
{
    return "qemu mps2-an386 (Cortex-M4F)";
}
