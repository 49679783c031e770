/* semihost.c - ARM semihosting calls (see semihost.h). */
#include "semihost.h"

#include <stddef.h>

static int g_available = -1; /* -1 unknown, 0 no, 1 yes */

int32_t sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

int sh_available(void)
{
    if (g_available < 0) {
        /* SYS_TIME never fails under QEMU; -1 here means the HardFault handler completed the BKPT. */
        g_available = sh_call(SH_SYS_TIME, NULL) != -1 ? 1 : 0;
    }
    return g_available;
}

static uint32_t str_len(const char *s)
{
    uint32_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

int32_t sh_open(const char *path, uint32_t mode)
{
    if (!sh_available()) {
        return -1;
    }
    const uint32_t args[3] = {(uint32_t)(uintptr_t)path, mode, str_len(path)};
    return sh_call(SH_SYS_OPEN, args);
}

int32_t sh_close(int32_t fd)
{
    const uint32_t args[1] = {(uint32_t)fd};
    return sh_call(SH_SYS_CLOSE, args);
}

int32_t sh_write(int32_t fd, const void *data, uint32_t len)
{
    const uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)data, len};
    return sh_call(SH_SYS_WRITE, args);
}

int32_t sh_read(int32_t fd, void *buf, uint32_t len)
{
    const uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, len};
    return sh_call(SH_SYS_READ, args);
}

int32_t sh_seek(int32_t fd, uint32_t pos)
{
    const uint32_t args[2] = {(uint32_t)fd, pos};
    return sh_call(SH_SYS_SEEK, args);
}

int32_t sh_flen(int32_t fd)
{
    const uint32_t args[1] = {(uint32_t)fd};
    return sh_call(SH_SYS_FLEN, args);
}

int32_t sh_time(void)
{
    return sh_available() ? sh_call(SH_SYS_TIME, NULL) : -1;
}

void sh_write0(const char *s)
{
    if (sh_available()) {
        (void)sh_call(SH_SYS_WRITE0, s);
    }
}

void sh_exit(int code)
{
    /* 32-bit semihosting: SYS_EXIT takes the reason code itself in r1; QEMU exits with status 0 for
     * ApplicationExit and 1 otherwise. */
    (void)sh_call(SH_SYS_EXIT, (const void *)(uintptr_t)(code == 0 ? SH_ADP_STOPPED_APPLICATION_EXIT
                                                                      : SH_ADP_STOPPED_RUN_TIME_ERROR));
    for (;;) {
        __asm__ volatile("wfi");
    }
}
