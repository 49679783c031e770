/* semihost.h - ARM semihosting calls (BKPT 0xAB on M-profile) used for persistent storage and exit.
 *
 * QEMU serves them with -semihosting-config enable=on,target=native: files are opened
 * relative to QEMU's working directory. Without that option the BKPT escalates to a
 * HardFault; startup.c's HardFault handler then completes the call with r0 = -1, so
 * every call below fails cleanly instead of hanging the board (mps2_semihost_available).
 * Depends on: <stdint.h>.
 */
#ifndef TINYDRIFT_BOARD_SEMIHOST_H
#define TINYDRIFT_BOARD_SEMIHOST_H

#include <stdint.h>

#define SH_SYS_OPEN 0x01u
#define SH_SYS_CLOSE 0x02u
#define SH_SYS_WRITEC 0x03u
#define SH_SYS_WRITE0 0x04u
#define SH_SYS_WRITE 0x05u
#define SH_SYS_READ 0x06u
#define SH_SYS_SEEK 0x0Au
#define SH_SYS_FLEN 0x0Cu
#define SH_SYS_TIME 0x11u
#define SH_SYS_EXIT 0x18u

/* SYS_OPEN modes (ISO C fopen modes in the semihosting order). */
#define SH_MODE_RB 1u       /* "rb" */
#define SH_MODE_RPLUSB 3u   /* "r+b": read/write, file must exist */
#define SH_MODE_WPLUSB 7u   /* "w+b": read/write, create or truncate */

/* SYS_EXIT reason: ADP_Stopped_ApplicationExit (angel_SWIreason_ReportException). */
#define SH_ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define SH_ADP_STOPPED_RUN_TIME_ERROR 0x20023u

/* Raw semihosting call: op in r0, arg in r1, result from r0 (-1 when semihosting is unavailable). */
int32_t sh_call(uint32_t op, const void *arg);

/* 1 once a call succeeded, 0 if the first probe faulted (QEMU run without -semihosting-config). */
int sh_available(void);

/* Open path with a SYS_OPEN mode; handle >= 0 or -1. */
int32_t sh_open(const char *path, uint32_t mode);
int32_t sh_close(int32_t fd);
/* Write len bytes; returns 0 on success (semihosting returns the count NOT written). */
int32_t sh_write(int32_t fd, const void *data, uint32_t len);
/* Read len bytes; returns the count NOT read (0: all read), -1 on error. */
int32_t sh_read(int32_t fd, void *buf, uint32_t len);
int32_t sh_seek(int32_t fd, uint32_t pos);
/* File length in bytes or -1. */
int32_t sh_flen(int32_t fd);
/* Host time in seconds since 1970, or -1. */
int32_t sh_time(void);
/* Print a NUL-terminated string on QEMU's stderr/stdout (debug console). */
void sh_write0(const char *s);
/* Terminate QEMU; code 0 = success (SYS_EXIT with ADP_Stopped_ApplicationExit). */
void sh_exit(int code) __attribute__((noreturn));

#endif /* TINYDRIFT_BOARD_SEMIHOST_H */
