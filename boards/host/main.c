/* main.c - tinydrift-sim: the firmware application as a native POSIX process.
 *
 *     tinydrift-sim [--tcp PORT | --pty] [--storage FILE] [--device-id HEX] [--sensor-file FILE [--sensor-rate HZ]]
 *
 * Serves the device link on 127.0.0.1:PORT (default: 0 = a free port) or on a
 * pseudo-terminal, prints exactly one line "tinydrift-sim: listening on ADDRESS"
 * to stdout, and runs the same td_app loop as a board until SIGINT or SIGTERM.
 * Profiles persist in the storage file (default ./tinydrift-storage.bin), and so does the
 * board's 64-bit device id (INFO): random at the file's first start, or --device-id HEX
 * (1 to 16 hex digits, not 0), which replaces the stored one.
 * --sensor-file plays a recorded stream (raw little-endian int16, frames of the
 * active profile's channel count, interleaved) as the board's sensor: a SENSOR
 * request starts it at the requested rate in real time; it stops at the end.
 * --sensor-rate HZ starts it by itself at HZ as soon as a profile is active
 * (as a board whose sketch samples from boot); a SENSOR request still changes it.
 * Depends on: td_app.h, td_hal.h, hal_host.h, POSIX signals.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal_host.h"
#include "td_app.h"
#include "td_hal.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int usage(const char *msg)
{
    fprintf(stderr, "tinydrift-sim: %s\nusage: tinydrift-sim [--tcp PORT | --pty] [--storage FILE] [--device-id HEX] [--sensor-file FILE [--sensor-rate HZ]]\n", msg);
    return 2;
}

/* Parse a TCP port 0..65535; returns -1 when text is not one. */
static long parse_port(const char *text)
{
    char *end = NULL;
    errno = 0;
    const long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535) {
        return -1;
    }
    return v;
}

/* Parse a device id: 1 to 16 hex digits (an optional 0x), not 0; returns 0 when text is not one. */
static uint64_t parse_uid(const char *text)
{
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text += 2;
    }
    const size_t n = strlen(text);
    if (n == 0u || n > 16u || strspn(text, "0123456789abcdefABCDEF") != n) {
        return 0u;
    }
    return (uint64_t)strtoull(text, NULL, 16);
}

int main(int argc, char **argv)
{
    td_host_options_t opt = {TD_HOST_LINK_TCP, 0u, TD_HOST_DEFAULT_STORAGE, NULL, 0u};
    int have_link = 0;
    uint16_t auto_rate = 0u; /* --sensor-rate: start the sensor once a profile is active */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc && !have_link) {
            const long port = parse_port(argv[++i]);
            if (port < 0) {
                return usage("--tcp needs a port number 0..65535");
            }
            opt.link = TD_HOST_LINK_TCP;
            opt.port = (uint16_t)port;
            have_link = 1;
        } else if (strcmp(argv[i], "--pty") == 0 && !have_link) {
            opt.link = TD_HOST_LINK_PTY;
            have_link = 1;
        } else if (strcmp(argv[i], "--storage") == 0 && i + 1 < argc) {
            opt.storage_path = argv[++i];
        } else if (strcmp(argv[i], "--device-id") == 0 && i + 1 < argc) {
            opt.device_uid = parse_uid(argv[++i]);
            if (opt.device_uid == 0u) {
                return usage("--device-id needs 1 to 16 hex digits, not all zero");
            }
        } else if (strcmp(argv[i], "--sensor-file") == 0 && i + 1 < argc) {
            opt.sensor_path = argv[++i];
        } else if (strcmp(argv[i], "--sensor-rate") == 0 && i + 1 < argc) {
            const long rate = parse_port(argv[++i]);
            if (rate < 1) {
                return usage("--sensor-rate needs a rate 1..65535 Hz");
            }
            auto_rate = (uint16_t)rate;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: tinydrift-sim [--tcp PORT | --pty] [--storage FILE] [--device-id HEX] [--sensor-file FILE [--sensor-rate HZ]]\n");
            return 0;
        } else {
            return usage(have_link && (strcmp(argv[i], "--tcp") == 0 || strcmp(argv[i], "--pty") == 0)
                             ? "choose one of --tcp and --pty"
                             : "bad argument");
        }
    }

    if (auto_rate > 0u && opt.sensor_path == NULL) {
        return usage("--sensor-rate needs --sensor-file");
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll() returns at once */
    (void)sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);

    static td_app_t app;
    td_host_configure(&opt);
    td_status s = td_hal_init();
    if (s != TD_OK) {
        fprintf(stderr, "tinydrift-sim: board init failed: %s\n", td_status_str(s));
        td_host_shutdown();
        return 1;
    }
    s = td_app_init(&app);
    if (s != TD_OK) {
        fprintf(stderr, "tinydrift-sim: app init failed: %s\n", td_status_str(s));
        td_host_shutdown();
        return 1;
    }
    printf("tinydrift-sim: listening on %s\n", td_host_link_address());
    fflush(stdout);

    while (!g_stop) {
        if (auto_rate > 0u && td_app_sensor_start(&app, auto_rate) == TD_OK) {
            auto_rate = 0u; /* started once; TD_ERR_STATE (no profile yet) is tried again next loop */
        }
        s = td_app_poll(&app);
        if (s != TD_OK) {
            fprintf(stderr, "tinydrift-sim: poll: %s\n", td_status_str(s));
        }
        td_hal_idle();
        /* The old client's partial frame must not prefix the new client's first frame. */
        if (td_host_take_reconnect() && td_app_link_reset(&app) != TD_OK) {
            fprintf(stderr, "tinydrift-sim: link reset failed\n");
        }
    }
    td_host_shutdown();
    return 0;
}
