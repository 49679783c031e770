/* hal_host.c - td_hal.h for the POSIX host simulator: TCP or pty link, file-backed flash, monotonic clock.
 *
 * Storage file layout (page = 4096 bytes):
 *     [0, 8192)       the HAL storage region td_app sees: two profile slots
 *     [8192, 12288)   page private to this HAL: "TDBC" | u32 boot count at 0,
 *                     "TDID" | u64 device uid at 8 (td_hal_device_uid)
 * The device uid is 8 bytes of /dev/urandom written at the first start of a storage
 * file (so two simulated boards differ and a restarted one keeps its id), or the
 * --device-id given, which replaces the stored one.
 * The region keeps flash semantics (erase to 0xFF by page; writes may only
 * clear bits), so bugs that real flash would expose show up here too.
 * The link is non-blocking for reads; writes block (bounded) until queued.
 * Depends on: td_hal.h, hal_host.h, POSIX (sockets, pty, clock_gettime, poll).
 */
#define _XOPEN_SOURCE 700

#include "hal_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "td_hal.h"

#define HOST_PAGE_SIZE 4096u
#define HOST_STORAGE_SIZE (2u * HOST_PAGE_SIZE)
#define HOST_BOOT_PAGE HOST_STORAGE_SIZE
#define HOST_FILE_SIZE (HOST_STORAGE_SIZE + HOST_PAGE_SIZE)
#define HOST_IDLE_MS 5
#define HOST_WRITE_TIMEOUT_MS 5000

static td_host_options_t g_opt = {TD_HOST_LINK_TCP, 0u, TD_HOST_DEFAULT_STORAGE, NULL, 0u};
/* The "sensor" is a recorded stream played back in real time at the rate the app asks for. */
static int g_sensor_fd = -1;
static uint16_t g_sensor_rate_hz;
static uint32_t g_sensor_start_ms;
static uint64_t g_sensor_frames;
static int g_storage_fd = -1;
static int g_listen_fd = -1;
static int g_client_fd = -1; /* TCP client, or the pty master */
static int g_pty_slave_fd = -1;
static int g_reconnected;
static uint32_t g_boot_id;
static uint64_t g_device_uid;
static struct timespec g_start;
static char g_address[128];
static char g_client_name[64];  /* the TCP client being served, "IP:PORT" */
static char g_client_since[32]; /* when it connected, "HH:MM:SS UTC" */
static int g_refused_fd = -1;   /* a refused client, closed once it hangs up (or after 1 s) */
static uint32_t g_refused_ms;   /* when it was refused */
static int g_refused_sent;      /* the busy line went out */
static char g_refused_line[160];

void td_host_configure(const td_host_options_t *options)
{
    if (options != NULL) {
        g_opt = *options;
    }
}

const char *td_host_link_address(void)
{
    return g_address;
}

int td_host_take_reconnect(void)
{
    const int r = g_reconnected;
    g_reconnected = 0;
    return r;
}

/* ---- storage file --------------------------------------------------------------- */

static int pread_all(uint32_t offset, uint8_t *buf, uint32_t len)
{
    uint32_t done = 0;
    while (done < len) {
        const ssize_t n = pread(g_storage_fd, buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (uint32_t)n;
    }
    return 0;
}

static int pwrite_all(uint32_t offset, const uint8_t *buf, uint32_t len)
{
    uint32_t done = 0;
    while (done < len) {
        const ssize_t n = pwrite(g_storage_fd, buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (uint32_t)n;
    }
    return 0;
}

/* 8 random bytes from the OS; 0 on success. */
static int random_u64(uint64_t *out)
{
    const int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    uint8_t b[8];
    const ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != (ssize_t)sizeof b) {
        return -1;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < sizeof b; i++) {
        v |= (uint64_t)b[i] << (8u * i);
    }
    *out = v;
    return 0;
}

/* The device uid at HOST_BOOT_PAGE + 8 ("TDID" | u64 LE): --device-id if given (stored), else the stored one,
 * else a new random one (stored). */
static td_status device_uid_load(void)
{
    uint8_t rec[12];
    if (pread_all(HOST_BOOT_PAGE + 8u, rec, sizeof rec) != 0) {
        return TD_ERR_STATE;
    }
    uint64_t uid = 0;
    if (memcmp(rec, "TDID", 4) == 0) {
        for (unsigned i = 0; i < 8u; i++) {
            uid |= (uint64_t)rec[4u + i] << (8u * i);
        }
    }
    if (g_opt.device_uid != 0u && g_opt.device_uid != uid) {
        uid = g_opt.device_uid;
    } else if (uid != 0u) {
        g_device_uid = uid;
        return TD_OK;
    } else {
        while (uid == 0u) {
            if (random_u64(&uid) != 0) {
                fprintf(stderr, "tinydrift-sim: cannot read /dev/urandom for the device id: %s\n", strerror(errno));
                return TD_ERR_STATE;
            }
        }
    }
    memcpy(rec, "TDID", 4);
    for (unsigned i = 0; i < 8u; i++) {
        rec[4u + i] = (uint8_t)(uid >> (8u * i));
    }
    if (pwrite_all(HOST_BOOT_PAGE + 8u, rec, sizeof rec) != 0) {
        return TD_ERR_STATE;
    }
    g_device_uid = uid;
    return TD_OK;
}

/* Open (or create 0xFF-filled) the flash image, bump the persisted boot counter, load the device uid. */
static td_status storage_open(void)
{
    g_storage_fd = open(g_opt.storage_path, O_RDWR | O_CREAT, 0644);
    if (g_storage_fd < 0) {
        fprintf(stderr, "tinydrift-sim: cannot open storage %s: %s\n", g_opt.storage_path, strerror(errno));
        return TD_ERR_STATE;
    }
    struct stat sb;
    if (fstat(g_storage_fd, &sb) != 0) {
        return TD_ERR_STATE;
    }
    if (sb.st_size < (off_t)HOST_FILE_SIZE) {
        /* New or short file: everything past its end is erased flash. */
        static uint8_t ff[HOST_PAGE_SIZE];
        memset(ff, 0xFF, sizeof ff);
        for (uint32_t off = (uint32_t)sb.st_size; off < HOST_FILE_SIZE;) {
            const uint32_t n = HOST_FILE_SIZE - off < HOST_PAGE_SIZE ? HOST_FILE_SIZE - off : HOST_PAGE_SIZE;
            if (pwrite_all(off, ff, n) != 0) {
                return TD_ERR_STATE;
            }
            off += n;
        }
    }
    uint8_t page[8];
    if (pread_all(HOST_BOOT_PAGE, page, sizeof page) != 0) {
        return TD_ERR_STATE;
    }
    uint32_t count = 0;
    if (memcmp(page, "TDBC", 4) == 0) {
        count = (uint32_t)page[4] | ((uint32_t)page[5] << 8) | ((uint32_t)page[6] << 16) | ((uint32_t)page[7] << 24);
    }
    count++;
    memcpy(page, "TDBC", 4);
    page[4] = (uint8_t)(count & 0xFFu);
    page[5] = (uint8_t)((count >> 8) & 0xFFu);
    page[6] = (uint8_t)((count >> 16) & 0xFFu);
    page[7] = (uint8_t)(count >> 24);
    if (pwrite_all(HOST_BOOT_PAGE, page, sizeof page) != 0) {
        return TD_ERR_STATE;
    }
    g_boot_id = count;
    return device_uid_load();
}

uint32_t td_hal_storage_size(void)
{
    return HOST_STORAGE_SIZE;
}

uint32_t td_hal_storage_page_size(void)
{
    return HOST_PAGE_SIZE;
}

static int in_region(uint32_t offset, uint32_t len)
{
    return offset <= HOST_STORAGE_SIZE && len <= HOST_STORAGE_SIZE - offset;
}

td_status td_hal_storage_read(uint32_t offset, uint8_t *buf, uint32_t len)
{
    if (buf == NULL || !in_region(offset, len) || g_storage_fd < 0) {
        return TD_ERR_ARG;
    }
    return pread_all(offset, buf, len) == 0 ? TD_OK : TD_ERR_STATE;
}

td_status td_hal_storage_erase(uint32_t offset, uint32_t len)
{
    if (!in_region(offset, len) || offset % HOST_PAGE_SIZE != 0u || len % HOST_PAGE_SIZE != 0u || g_storage_fd < 0) {
        return TD_ERR_ARG;
    }
    static uint8_t ff[HOST_PAGE_SIZE];
    memset(ff, 0xFF, sizeof ff);
    for (uint32_t off = offset; off < offset + len; off += HOST_PAGE_SIZE) {
        if (pwrite_all(off, ff, HOST_PAGE_SIZE) != 0) {
            return TD_ERR_STATE;
        }
    }
    return TD_OK;
}

td_status td_hal_storage_write(uint32_t offset, const uint8_t *data, uint32_t len)
{
    if (data == NULL || !in_region(offset, len) || offset % 4u != 0u || len % 4u != 0u || g_storage_fd < 0) {
        return TD_ERR_ARG;
    }
    uint8_t old[256];
    for (uint32_t done = 0; done < len;) {
        const uint32_t n = len - done < (uint32_t)sizeof old ? len - done : (uint32_t)sizeof old;
        if (pread_all(offset + done, old, n) != 0) {
            return TD_ERR_STATE;
        }
        for (uint32_t i = 0; i < n; i++) {
            if ((uint8_t)(old[i] & data[done + i]) != data[done + i]) {
                return TD_ERR_STATE; /* flash can only clear bits: the target was not erased */
            }
        }
        if (pwrite_all(offset + done, data + done, n) != 0) {
            return TD_ERR_STATE;
        }
        done += n;
    }
    return TD_OK;
}

/* ---- link ------------------------------------------------------------------------ */

static int set_nonblocking(int fd)
{
    const int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static td_status tcp_open(void)
{
    g_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (g_listen_fd < 0) {
        return TD_ERR_STATE;
    }
    const int one = 1;
    (void)setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(g_opt.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(g_listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(g_listen_fd, 1) != 0 ||
        set_nonblocking(g_listen_fd) != 0) {
        fprintf(stderr, "tinydrift-sim: cannot listen on 127.0.0.1:%u: %s\n", (unsigned)g_opt.port, strerror(errno));
        return TD_ERR_STATE;
    }
    socklen_t alen = sizeof addr;
    if (getsockname(g_listen_fd, (struct sockaddr *)&addr, &alen) != 0) {
        return TD_ERR_STATE;
    }
    snprintf(g_address, sizeof g_address, "socket://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    return TD_OK;
}

static td_status pty_open(void)
{
    g_client_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (g_client_fd < 0 || grantpt(g_client_fd) != 0 || unlockpt(g_client_fd) != 0) {
        fprintf(stderr, "tinydrift-sim: cannot open a pty: %s\n", strerror(errno));
        return TD_ERR_STATE;
    }
    const char *name = ptsname(g_client_fd);
    if (name == NULL) {
        return TD_ERR_STATE;
    }
    snprintf(g_address, sizeof g_address, "%s", name);
    /* Holding the slave open keeps the master usable (no EIO/HUP) between clients; raw mode
     * keeps the line discipline from echoing or translating frame bytes. */
    g_pty_slave_fd = open(name, O_RDWR | O_NOCTTY);
    struct termios tio;
    if (g_pty_slave_fd < 0 || tcgetattr(g_pty_slave_fd, &tio) != 0) {
        return TD_ERR_STATE;
    }
    tio.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
    tio.c_oflag &= (tcflag_t)~OPOST;
    tio.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    tio.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(g_pty_slave_fd, TCSANOW, &tio) != 0 || set_nonblocking(g_client_fd) != 0) {
        return TD_ERR_STATE;
    }
    return TD_OK;
}

static void drop_client(void)
{
    if (g_opt.link == TD_HOST_LINK_TCP && g_client_fd >= 0) {
        close(g_client_fd);
        g_client_fd = -1;
    }
}

static int set_nonblocking(int fd);

/* The refused client: the busy line goes out once it has sent its first bytes (or after 1 s): a line sent at
 * once can be discarded by the client's own opening (pyserial empties its input buffer after connecting).
 * Then the client closes (or it is closed after 2 s): an end of stream right behind the line makes pyserial
 * drop the line, and closing with the client's bytes unread would send a reset that can discard it too. */
static void reap_refused(int force)
{
    if (g_refused_fd < 0) {
        return;
    }
    uint8_t sink[256];
    ssize_t n;
    int heard = 0;
    while ((n = read(g_refused_fd, sink, sizeof sink)) > 0) {
        heard = 1;
    }
    const int gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    const uint32_t age = td_hal_time_ms() - g_refused_ms;
    if (!g_refused_sent && !gone && (heard || age > 1000u)) {
        (void)write(g_refused_fd, g_refused_line, strlen(g_refused_line));
        g_refused_sent = 1;
    }
    if (force || gone || age > 2000u) {
        close(g_refused_fd);
        g_refused_fd = -1;
    }
}

/* Refuse a second TCP client with one line naming the client that holds the link (see reap_refused). */
static void refuse_client(int fd)
{
    if (set_nonblocking(fd) != 0) {
        close(fd);
        return;
    }
    reap_refused(1);
    (void)snprintf(g_refused_line, sizeof g_refused_line,
                   "tinydrift-sim: busy: serving another client (%s since %s)\n", g_client_name, g_client_since);
    g_refused_fd = fd;
    g_refused_ms = td_hal_time_ms();
    g_refused_sent = 0;
}

/* Accept a waiting TCP client if none is connected; refuse one that comes while a client is served. */
static void try_accept(void)
{
    if (g_opt.link != TD_HOST_LINK_TCP || g_listen_fd < 0) {
        return;
    }
    reap_refused(0);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    const int fd = accept(g_listen_fd, (struct sockaddr *)&peer, &plen);
    if (fd < 0) {
        return;
    }
    if (g_client_fd >= 0) {
        /* A client that hung up with nothing left unread is gone, though the main loop has not read its EOF
         * yet: a command run right after another must not be refused by its predecessor. */
        char peek;
        const ssize_t n = recv(g_client_fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            drop_client();
        }
    }
    if (g_client_fd >= 0) {
        refuse_client(fd);
        return;
    }
    char ip[INET_ADDRSTRLEN] = "?";
    (void)inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    (void)snprintf(g_client_name, sizeof g_client_name, "%s:%u", ip, (unsigned)ntohs(peer.sin_port));
    const time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc) == NULL || strftime(g_client_since, sizeof g_client_since, "%H:%M:%S UTC", &utc) == 0u) {
        (void)snprintf(g_client_since, sizeof g_client_since, "an unknown time");
    }
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (set_nonblocking(fd) != 0) {
        close(fd);
        return;
    }
    g_client_fd = fd;
    g_reconnected = 1;
}

size_t td_hal_link_read(uint8_t *buf, size_t cap)
{
    if (buf == NULL || cap == 0u || g_client_fd < 0) {
        return 0u;
    }
    for (;;) {
        const ssize_t n = read(g_client_fd, buf, cap);
        if (n > 0) {
            return (size_t)n;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EIO)) {
            drop_client(); /* TCP: the client hung up; back to accepting (state is kept) */
        }
        return 0u;
    }
}

td_status td_hal_link_write(const uint8_t *data, size_t len)
{
    if (data == NULL && len > 0u) {
        return TD_ERR_ARG;
    }
    if (g_client_fd < 0) {
        return TD_ERR_STATE; /* nobody listening: the bytes are lost, like a UART without a cable */
    }
    size_t done = 0;
    int waited_ms = 0;
    while (done < len) {
        ssize_t n;
        if (g_opt.link == TD_HOST_LINK_TCP) {
            n = send(g_client_fd, data + done, len - done, MSG_NOSIGNAL);
        } else {
            n = write(g_client_fd, data + done, len - done);
        }
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waited_ms < HOST_WRITE_TIMEOUT_MS) {
            struct pollfd p = {g_client_fd, POLLOUT, 0};
            (void)poll(&p, 1, 50);
            waited_ms += 50;
            continue;
        }
        drop_client(); /* broken or stuck peer: a new client starts clean */
        return TD_ERR_STATE;
    }
    return TD_OK;
}

/* ---- everything else ----------------------------------------------------------------- */

td_status td_hal_init(void)
{
    if (clock_gettime(CLOCK_MONOTONIC, &g_start) != 0) {
        return TD_ERR_STATE;
    }
    td_status s = storage_open();
    if (s != TD_OK) {
        return s;
    }
    s = g_opt.link == TD_HOST_LINK_PTY ? pty_open() : tcp_open();
    return s;
}

void td_host_shutdown(void)
{
    reap_refused(1);
    if (g_opt.link == TD_HOST_LINK_TCP) {
        drop_client();
    } else if (g_client_fd >= 0) {
        close(g_client_fd);
        g_client_fd = -1;
    }
    if (g_pty_slave_fd >= 0) {
        close(g_pty_slave_fd);
        g_pty_slave_fd = -1;
    }
    if (g_listen_fd >= 0) {
        close(g_listen_fd);
        g_listen_fd = -1;
    }
    if (g_storage_fd >= 0) {
        close(g_storage_fd);
        g_storage_fd = -1;
    }
}

uint32_t td_hal_time_ms(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) {
        return 0u;
    }
    const int64_t ms = ((int64_t)now.tv_sec - (int64_t)g_start.tv_sec) * 1000 +
                       ((int64_t)now.tv_nsec - (int64_t)g_start.tv_nsec) / 1000000;
    return (uint32_t)(uint64_t)ms; /* wraps after 49 days, as td_hal.h allows */
}

uint32_t td_hal_boot_id(void)
{
    return g_boot_id;
}

uint64_t td_hal_device_uid(void)
{
    return g_device_uid;
}

td_status td_hal_sensor_start(uint16_t rate_hz)
{
    if (rate_hz == 0u) {
        g_sensor_rate_hz = 0u;
        return TD_OK;
    }
    if (g_opt.sensor_path == NULL) {
        return TD_ERR_MODE; /* no sensor file: frames only arrive by INJECT */
    }
    if (g_sensor_fd < 0) {
        g_sensor_fd = open(g_opt.sensor_path, O_RDONLY | O_CLOEXEC);
        if (g_sensor_fd < 0) {
            return TD_ERR_STATE;
        }
    }
    /* Restarting keeps the file position: sampling resumes where it stopped, like a live sensor. */
    g_sensor_rate_hz = rate_hz;
    g_sensor_start_ms = td_hal_time_ms();
    g_sensor_frames = 0u;
    return TD_OK;
}

int td_hal_sensor_read(int16_t *frame, uint8_t n_channels)
{
    static uint64_t played; /* frames taken from the file since boot */
    if (g_sensor_rate_hz == 0u || g_sensor_fd < 0 || frame == NULL || n_channels == 0u) {
        return 0;
    }
    const uint64_t elapsed_ms = (uint32_t)(td_hal_time_ms() - g_sensor_start_ms);
    if (g_sensor_frames >= elapsed_ms * g_sensor_rate_hz / 1000u) {
        return 0; /* next frame not due yet */
    }
    uint8_t raw[2u * 255u];
    const size_t need = 2u * n_channels;
    const ssize_t got = pread(g_sensor_fd, raw, need, (off_t)(played * need));
    if (got != (ssize_t)need) {
        g_sensor_rate_hz = 0u; /* end of the recording: the sensor goes quiet */
        return 0;
    }
    for (size_t c = 0; c < n_channels; c++) {
        frame[c] = (int16_t)(uint16_t)(raw[2u * c] | (raw[2u * c + 1u] << 8));
    }
    played++;
    g_sensor_frames++;
    return 1;
}

void td_hal_idle(void)
{
    try_accept();
    struct pollfd p;
    p.fd = g_client_fd >= 0 ? g_client_fd : g_listen_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (p.fd < 0) {
        return;
    }
    /* Returns early on input (or a signal); a short timeout keeps sensor polling responsive. */
    (void)poll(&p, 1, HOST_IDLE_MS);
    try_accept();
}

uint8_t td_hal_board_id(void)
{
    return TD_BOARD_HOST;
}

const char *td_hal_board_name(void)
{
    return "host simulator";
}
