/* selftest.c - board self-test of the mps2-an386 HAL, built as selftest.elf (make fw-qemu-selftest).
 *
 * Checks storage rules (erase, write-once, alignment, range), logs this boot into a
 * flash-style log on storage page 1 (so restarts show persistence), prints a report on
 * UART0, then echoes every received byte back. A received 0x04 (EOT) ends the run via
 * semihosting SYS_EXIT; a received 0x05 (ENQ) stalls the reader for 500 ms (not echoed), so a
 * host sending more than the 4 KB receive ring meanwhile exercises the RX backpressure path.
 * It uses its own storage file (tinydrift-selftest.bin), never the firmware's profile slots.
 * Depends on: td_hal.h, mps2.h, semihost.h.
 */
#include <stdint.h>
#include <string.h>

#include "mps2.h"
#include "semihost.h"
#include "td_hal.h"

static uint32_t g_failures;

static void say(const char *s)
{
    if (td_hal_link_write((const uint8_t *)s, strlen(s)) != TD_OK) {
        g_failures++;
    }
}

static void say_u32(const char *key, uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    say(key);
    say("=");
    say(&buf[i]);
    say("\r\n");
}

static void say_hex64(const char *key, uint64_t v)
{
    char buf[17];
    for (int i = 15; i >= 0; i--) {
        buf[i] = "0123456789abcdef"[v & 0xFu];
        v >>= 4;
    }
    buf[16] = '\0';
    say(key);
    say("=");
    say(buf);
    say("\r\n");
}

static void check(int ok, const char *what)
{
    if (!ok) {
        g_failures++;
        say("FAIL ");
        say(what);
        say("\r\n");
    }
}

static void storage_rules(void)
{
    const uint32_t page = td_hal_storage_page_size();
    uint8_t buf[16];
    uint8_t pattern[16];
    for (uint32_t i = 0; i < sizeof pattern; i++) {
        pattern[i] = (uint8_t)(0xA0u + i);
    }
    check(td_hal_storage_erase(0u, page) == TD_OK, "erase page 0");
    check(td_hal_storage_read(0u, buf, sizeof buf) == TD_OK, "read erased");
    for (uint32_t i = 0; i < sizeof buf; i++) {
        check(buf[i] == 0xFFu, "erased bytes are 0xFF");
    }
    check(td_hal_storage_write(8u, pattern, sizeof pattern) == TD_OK, "write");
    check(td_hal_storage_read(8u, buf, sizeof buf) == TD_OK && memcmp(buf, pattern, sizeof buf) == 0, "read back");
    check(td_hal_storage_write(8u, pattern, 4u) == TD_ERR_STATE, "rewrite without erase is refused");
    check(td_hal_storage_write(2u, pattern, 4u) == TD_ERR_ARG, "unaligned offset refused");
    check(td_hal_storage_write(32u, pattern, 3u) == TD_ERR_ARG, "unaligned length refused");
    check(td_hal_storage_erase(1u, page) == TD_ERR_ARG, "unaligned erase refused");
    check(td_hal_storage_read(td_hal_storage_size() - 4u, buf, 8u) == TD_ERR_RANGE, "read past end refused");
    check(td_hal_storage_erase(td_hal_storage_size(), page) == TD_ERR_RANGE, "erase past end refused");
    check(td_hal_storage_read(0xFFFFFFF0u, buf, 32u) == TD_ERR_RANGE, "offset overflow refused");
    check(td_hal_storage_erase(0u, page) == TD_OK, "erase again");
    check(td_hal_storage_read(8u, buf, 4u) == TD_OK && buf[0] == 0xFFu, "erase clears written bytes");
    check(td_hal_sensor_start(10u) == TD_ERR_MODE, "no sensors");
    check(td_hal_sensor_start(0u) == TD_OK, "sensor stop is fine");
}

/* Page 1 is a log of boot ids, one word per boot: the count survives restarts if storage persists. */
static uint32_t boot_log(void)
{
    const uint32_t page = td_hal_storage_page_size();
    uint32_t n = 0;
    for (uint32_t off = 0; off < page; off += 4u) {
        uint8_t w[4];
        if (td_hal_storage_read(page + off, w, 4u) != TD_OK) {
            return 0u;
        }
        if (w[0] == 0xFFu && w[1] == 0xFFu && w[2] == 0xFFu && w[3] == 0xFFu) {
            const uint32_t id = td_hal_boot_id();
            const uint8_t v[4] = {(uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16), (uint8_t)(id >> 24)};
            check(td_hal_storage_write(page + off, v, 4u) == TD_OK, "boot log append");
            return n + 1u;
        }
        n++;
    }
    check(td_hal_storage_erase(page, page) == TD_OK, "boot log wrap");
    return boot_log();
}

int main(void)
{
    if (td_hal_init() != TD_OK) {
        sh_exit(1);
    }
    say("tinydrift mps2-an386 board self-test\r\n");
    say("board=");
    say(td_hal_board_name());
    say("\r\n");
    say_u32("board_id", td_hal_board_id());
    say_u32("semihosting", (uint32_t)sh_available());
    say_u32("boot_id", td_hal_boot_id());
    say_hex64("device_uid", td_hal_device_uid());
    check(td_hal_device_uid() != 0u, "device uid set");
    say_u32("storage_size", td_hal_storage_size());
    say_u32("page_size", td_hal_storage_page_size());
    storage_rules();
    say_u32("boots_logged", boot_log());
    const uint32_t t0 = td_hal_time_ms();
    for (volatile uint32_t i = 0; i < 200000u; i++) {
    }
    say_u32("busy_loop_ms", td_hal_time_ms() - t0);
    say(g_failures == 0u ? "selftest ok\r\n" : "selftest FAILED\r\n");
    say("echo mode (0x04 exits, 0x05 stalls 500 ms)\r\n");
    for (;;) {
        uint8_t buf[64];
        const size_t n = td_hal_link_read(buf, sizeof buf);
        size_t start = 0;
        for (size_t i = 0; i < n; i++) {
            if (buf[i] == 0x04u) {
                check(td_hal_link_write(buf + start, i - start) == TD_OK, "echo write");
                sh_exit(g_failures == 0u ? 0 : 1);
            }
            if (buf[i] == 0x05u) {
                /* Stall without reading: the 4 KB receive ring fills, RX backpressure must hold the rest. */
                check(td_hal_link_write(buf + start, i - start) == TD_OK, "echo write");
                start = i + 1u;
                const uint32_t t0 = td_hal_time_ms();
                while (td_hal_time_ms() - t0 < 500u) {
                }
            }
        }
        if (n > start) {
            check(td_hal_link_write(buf + start, n - start) == TD_OK, "echo write");
        } else if (n == 0u) {
            td_hal_idle();
        }
    }
}
