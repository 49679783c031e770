/* hal_nano33ble.cpp - td_hal.h on the Arduino Nano 33 BLE (Sense) with the Arduino Mbed OS Nano core.
 *
 * Link:    USB CDC `Serial` (SerialUSB on this core; the baud rate is ignored; 256-byte
 *          receive ring in the core, USB flow control beyond it). Writes are refused
 *          (TD_ERR_STATE) while no host holds the port open (DTR low): the app then keeps
 *          the records in its ring for FETCH instead of blocking on a closed port.
 * Time:    millis().
 * Sensors: the onboard IMU, 6 channels acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z (the
 *          BasicMotions order), scaled to int16 like a fixed full-scale driver:
 *              acc  round(g   * TD_NANO_ACC_LSB_PER_G)    default 8192  (+-4 g full scale)
 *              gyro round(dps * TD_NANO_GYR_LSB_PER_DPS)  default 16.384 (+-2000 dps full scale)
 *          clamped to [-32768, 32767] (the rails a profile can check). A profile with fewer
 *          channels gets the first n of them. TD_NANO_IMU selects the library:
 *              TD_NANO_IMU_LSM9DS1 (1, default)  Nano 33 BLE / BLE Sense rev1, Arduino_LSM9DS1 (ODR 119 Hz)
 *              TD_NANO_IMU_BMI270  (2)           Nano 33 BLE Sense Rev2, Arduino_BMI270_BMM150 (ODR 99.84 Hz)
 *          Both libraries configure +-4 g and +-2000 dps, the full scales the defaults assume.
 *          Frames are taken on a fixed schedule of rate_hz (1..TD_NANO_MAX_RATE_HZ, the IMU's
 *          output data rate); a late loop skips ahead instead of bursting stale frames.
 * Storage: nRF52840 internal flash through the NVMC registers (0x4001E000: READY +0x400,
 *          CONFIG +0x504, ERASEPAGE +0x508; 4 KB pages), three pages just below 0xE0000:
 *              0xDD000  boot counter page (this HAL's, a log of one word per boot)
 *              0xDE000  storage page 0  (profile slot A)
 *              0xDF000  storage page 1  (profile slot B)
 *          0xE0000..0xFFFFF is where Arduino's updated (SoftDevice-capable) bootloader lives
 *          (UICR.BOOTLOADERADDR), so the region stays clear of it; the stock bootloader sits at
 *          0x0..0xFFFF and the sketch starts at 0x10000. td_hal_init checks at run time that
 *          the sketch image ends below 0xDD000 and that no bootloader is registered inside the
 *          region; otherwise storage is refused (TD_ERR_STATE) rather than corrupting code.
 *          Erasing or writing stalls the CPU (about 85 ms per page erase), as with mbed's FlashIAP.
 * Boot id: the boot counter page's last word + 1, appended at every boot (1024 boots per
 *          erase); a blank page starts from a hardware random number (nRF RNG peripheral).
 * Device uid: the nRF52840's factory DEVICEID, FICR base 0x10000000 + 0x060 (DEVICEID[0], low
 *          word) and + 0x064 (DEVICEID[1], high word): 64 bits Nordic programs into every chip.
 * Depends on: td_hal.h (C linkage), Arduino.h (Mbed OS Nano core), the IMU library.
 *
 * Part of the tinydrift Arduino library (src/tinydrift/boards/nano33ble/, `make arduino-lib`):
 * compiled only for the Nano 33 BLE (ARDUINO_ARDUINO_NANO33BLE, defined by the core from
 * boards.txt's build.board) or when TD_NANO33BLE_HAL is defined, so the library's core and
 * the classifier example build on other Mbed boards without this board's HAL.
 */
#if defined(ARDUINO_ARDUINO_NANO33BLE) || defined(TD_NANO33BLE_HAL)
#include <Arduino.h>

#define TD_NANO_IMU_LSM9DS1 1
#define TD_NANO_IMU_BMI270 2
#ifndef TD_NANO_IMU
#define TD_NANO_IMU TD_NANO_IMU_LSM9DS1
#endif

#if TD_NANO_IMU == TD_NANO_IMU_LSM9DS1
#include <Arduino_LSM9DS1.h>
#ifndef TD_NANO_MAX_RATE_HZ
#define TD_NANO_MAX_RATE_HZ 119u
#endif
#define TD_NANO_IMU_NAME "LSM9DS1"
#elif TD_NANO_IMU == TD_NANO_IMU_BMI270
#include <Arduino_BMI270_BMM150.h>
#ifndef TD_NANO_MAX_RATE_HZ
#define TD_NANO_MAX_RATE_HZ 99u /* the library fixes the ODR at 99.84 Hz */
#endif
#define TD_NANO_IMU_NAME "BMI270"
#else
#error "TD_NANO_IMU must be TD_NANO_IMU_LSM9DS1 (1) or TD_NANO_IMU_BMI270 (2)"
#endif

#ifndef TD_NANO_ACC_LSB_PER_G
#define TD_NANO_ACC_LSB_PER_G 8192.0f
#endif
#ifndef TD_NANO_GYR_LSB_PER_DPS
#define TD_NANO_GYR_LSB_PER_DPS 16.384f
#endif
#ifndef TD_NANO_STORAGE_BASE
#define TD_NANO_STORAGE_BASE 0xDD000u /* boot counter page; the two storage pages follow */
#endif

#include <string.h>

extern "C" {
#include "tinydrift/firmware/td_hal.h"
}

/* ------------------------------------------------------------------ flash layout */

#define NANO_PAGE_SIZE 4096u
#define NANO_FLASH_END 0x100000u
#define NANO_BOOT_PAGE TD_NANO_STORAGE_BASE
#define NANO_STORAGE_START (TD_NANO_STORAGE_BASE + NANO_PAGE_SIZE)
#define NANO_STORAGE_PAGES 2u
#define NANO_STORAGE_SIZE (NANO_STORAGE_PAGES * NANO_PAGE_SIZE)
#define NANO_REGION_END (NANO_STORAGE_START + NANO_STORAGE_SIZE)

static_assert(TD_NANO_STORAGE_BASE % NANO_PAGE_SIZE == 0, "storage must start on a flash page");
static_assert(TD_NANO_STORAGE_BASE >= 0x10000u, "storage must not overlap the bootloader at 0x0..0xFFFF");
static_assert(NANO_REGION_END <= NANO_FLASH_END, "storage must end inside the 1 MB flash");

/* NVMC (nRF52840 product specification, section NVMC). */
#define NVMC_BASE 0x4001E000u
#define NVMC_READY (*(volatile uint32_t *)(NVMC_BASE + 0x400u))
#define NVMC_CONFIG (*(volatile uint32_t *)(NVMC_BASE + 0x504u))
#define NVMC_ERASEPAGE (*(volatile uint32_t *)(NVMC_BASE + 0x508u))
#define NVMC_CONFIG_REN 0u
#define NVMC_CONFIG_WEN 1u
#define NVMC_CONFIG_EEN 2u

/* UICR.BOOTLOADERADDR: set when a bootloader lives at the end of flash (0xFFFFFFFF when unused). */
#define UICR_BOOTLOADERADDR (*(volatile const uint32_t *)0x10001014u)

/* FICR.DEVICEID[0..1]: the chip's 64-bit unique device identifier (nRF52840 product specification, FICR). */
#define FICR_DEVICEID0 (*(volatile const uint32_t *)0x10000060u)
#define FICR_DEVICEID1 (*(volatile const uint32_t *)0x10000064u)

/* RNG peripheral, used once to seed a blank boot counter. */
#define RNG_BASE 0x4000D000u
#define RNG_TASKS_START (*(volatile uint32_t *)(RNG_BASE + 0x000u))
#define RNG_TASKS_STOP (*(volatile uint32_t *)(RNG_BASE + 0x004u))
#define RNG_EVENTS_VALRDY (*(volatile uint32_t *)(RNG_BASE + 0x100u))
#define RNG_CONFIG (*(volatile uint32_t *)(RNG_BASE + 0x504u))
#define RNG_VALUE (*(volatile const uint32_t *)(RNG_BASE + 0x508u))

/* Symbols of the core's linker script (variants/ARDUINO_NANO33BLE/linker_script.ld). */
extern "C" uint32_t __etext;
extern "C" uint32_t __data_start__;
extern "C" uint32_t __data_end__;

static bool g_storage_ok;
static uint32_t g_boot_id = 1u;
static bool g_imu_ok;
static uint16_t g_rate_hz;
static uint32_t g_period_us;
static uint32_t g_next_us;

static inline void nvmc_wait(void)
{
    while (NVMC_READY == 0u) {
    }
}

static inline void barrier(void)
{
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

static void nvmc_erase_page(uint32_t addr)
{
    NVMC_CONFIG = NVMC_CONFIG_EEN;
    nvmc_wait();
    NVMC_ERASEPAGE = addr;
    nvmc_wait();
    NVMC_CONFIG = NVMC_CONFIG_REN;
    nvmc_wait();
    barrier();
}

static void nvmc_write_word(uint32_t addr, uint32_t value)
{
    NVMC_CONFIG = NVMC_CONFIG_WEN;
    nvmc_wait();
    *(volatile uint32_t *)addr = value;
    nvmc_wait();
    NVMC_CONFIG = NVMC_CONFIG_REN;
    nvmc_wait();
    barrier();
}

static inline uint32_t flash_word(uint32_t addr)
{
    return *(volatile const uint32_t *)addr;
}

/* The sketch image (code, constants, .data load image) must end below the storage region,
 * and no bootloader may be registered inside it. */
static bool region_is_free(void)
{
    const uint32_t data_size = (uint32_t)((uintptr_t)&__data_end__ - (uintptr_t)&__data_start__);
    const uint32_t image_end = (uint32_t)(uintptr_t)&__etext + data_size;
    if (image_end > TD_NANO_STORAGE_BASE) {
        return false;
    }
    const uint32_t boot_addr = UICR_BOOTLOADERADDR;
    if (boot_addr != 0xFFFFFFFFu && boot_addr < NANO_REGION_END && boot_addr >= TD_NANO_STORAGE_BASE) {
        return false;
    }
    return true;
}

static uint32_t hardware_random(void)
{
    uint32_t v = 0;
    RNG_CONFIG = 1u; /* bias correction */
    RNG_EVENTS_VALRDY = 0u;
    RNG_TASKS_START = 1u;
    for (int i = 0; i < 4; i++) {
        const uint32_t t0 = micros();
        while (RNG_EVENTS_VALRDY == 0u && micros() - t0 < 1000u) {
        }
        RNG_EVENTS_VALRDY = 0u;
        v = (v << 8) | (RNG_VALUE & 0xFFu);
    }
    RNG_TASKS_STOP = 1u;
    return v ^ micros();
}

/* Append this boot to the boot counter page; returns the boot id. */
static uint32_t boot_count(void)
{
    uint32_t last = 0;
    uint32_t free_addr = 0;
    for (uint32_t a = NANO_BOOT_PAGE; a < NANO_BOOT_PAGE + NANO_PAGE_SIZE; a += 4u) {
        const uint32_t w = flash_word(a);
        if (w == 0xFFFFFFFFu) {
            free_addr = a;
            break;
        }
        last = w;
    }
    uint32_t next;
    if (free_addr == NANO_BOOT_PAGE) {
        next = hardware_random(); /* blank page: a fresh random start */
    } else {
        next = last + 1u;
    }
    if (next == 0u || next == 0xFFFFFFFFu) {
        next = 1u;
    }
    if (free_addr == 0u) { /* page full: start it over */
        nvmc_erase_page(NANO_BOOT_PAGE);
        free_addr = NANO_BOOT_PAGE;
    }
    nvmc_write_word(free_addr, next);
    return next;
}

/* ------------------------------------------------------------------ td_hal.h */

extern "C" td_status td_hal_init(void)
{
    Serial.begin(115200);
    g_storage_ok = region_is_free();
    g_boot_id = g_storage_ok ? boot_count() : (hardware_random() | 1u);
    g_imu_ok = IMU.begin() != 0;
    g_rate_hz = 0u;
    return TD_OK;
}

extern "C" size_t td_hal_link_read(uint8_t *buf, size_t cap)
{
    if (buf == NULL) {
        return 0u;
    }
    size_t n = 0;
    int avail = Serial.available();
    while (n < cap && avail > 0) {
        const int c = Serial.read();
        if (c < 0) {
            break;
        }
        buf[n++] = (uint8_t)c;
        if (--avail == 0) {
            avail = Serial.available();
        }
    }
    return n;
}

extern "C" td_status td_hal_link_write(const uint8_t *data, size_t len)
{
    if (data == NULL && len > 0u) {
        return TD_ERR_ARG;
    }
    /* Serial.dtr(), not `!Serial`: the core's operator bool() sleeps 1 ms on every call. */
    if (!Serial.dtr()) {
        return TD_ERR_STATE; /* no host has the port open (DTR low): do not block */
    }
    size_t done = 0;
    uint32_t last_progress = millis();
    while (done < len) {
        const size_t n = Serial.write(data + done, len - done);
        if (n > 0u) {
            done += n;
            last_progress = millis();
        } else if (millis() - last_progress > 200u || !Serial.dtr()) {
            return TD_ERR_STATE; /* host stopped reading */
        }
    }
    return TD_OK;
}

extern "C" uint32_t td_hal_time_ms(void)
{
    return (uint32_t)millis();
}

extern "C" uint32_t td_hal_boot_id(void)
{
    return g_boot_id;
}

extern "C" uint64_t td_hal_device_uid(void)
{
    return (uint64_t)FICR_DEVICEID1 << 32 | FICR_DEVICEID0;
}

extern "C" uint32_t td_hal_storage_size(void)
{
    return NANO_STORAGE_SIZE;
}

extern "C" uint32_t td_hal_storage_page_size(void)
{
    return NANO_PAGE_SIZE;
}

static bool in_range(uint32_t offset, uint32_t len)
{
    return offset <= NANO_STORAGE_SIZE && len <= NANO_STORAGE_SIZE - offset;
}

extern "C" td_status td_hal_storage_read(uint32_t offset, uint8_t *buf, uint32_t len)
{
    if (buf == NULL && len > 0u) {
        return TD_ERR_ARG;
    }
    if (!in_range(offset, len)) {
        return TD_ERR_RANGE;
    }
    if (!g_storage_ok) {
        return TD_ERR_STATE;
    }
    if (len > 0u) {
        memcpy(buf, (const void *)(uintptr_t)(NANO_STORAGE_START + offset), len);
    }
    return TD_OK;
}

extern "C" td_status td_hal_storage_erase(uint32_t offset, uint32_t len)
{
    if (offset % NANO_PAGE_SIZE != 0u || len % NANO_PAGE_SIZE != 0u) {
        return TD_ERR_ARG;
    }
    if (!in_range(offset, len)) {
        return TD_ERR_RANGE;
    }
    if (!g_storage_ok) {
        return TD_ERR_STATE;
    }
    for (uint32_t a = NANO_STORAGE_START + offset; a < NANO_STORAGE_START + offset + len; a += NANO_PAGE_SIZE) {
        nvmc_erase_page(a);
    }
    return TD_OK;
}

extern "C" td_status td_hal_storage_write(uint32_t offset, const uint8_t *data, uint32_t len)
{
    if ((data == NULL && len > 0u) || offset % 4u != 0u || len % 4u != 0u) {
        return TD_ERR_ARG;
    }
    if (!in_range(offset, len)) {
        return TD_ERR_RANGE;
    }
    if (!g_storage_ok) {
        return TD_ERR_STATE;
    }
    const uint32_t base = NANO_STORAGE_START + offset;
    for (uint32_t i = 0; i < len; i += 4u) {
        if (flash_word(base + i) != 0xFFFFFFFFu) {
            return TD_ERR_STATE; /* flash is written once per erase (same rule as the QEMU board) */
        }
    }
    for (uint32_t i = 0; i < len; i += 4u) {
        const uint32_t w = (uint32_t)data[i] | (uint32_t)data[i + 1u] << 8 | (uint32_t)data[i + 2u] << 16 |
                           (uint32_t)data[i + 3u] << 24;
        if (w != 0xFFFFFFFFu) {
            nvmc_write_word(base + i, w);
        }
    }
    return TD_OK;
}

extern "C" td_status td_hal_sensor_start(uint16_t rate_hz)
{
    if (rate_hz == 0u) {
        g_rate_hz = 0u;
        return TD_OK;
    }
    if (!g_imu_ok) {
        return TD_ERR_MODE;
    }
    if (rate_hz > TD_NANO_MAX_RATE_HZ) {
        return TD_ERR_RANGE; /* faster than the IMU's output data rate: frames would repeat */
    }
    g_rate_hz = rate_hz;
    g_period_us = 1000000u / rate_hz;
    g_next_us = micros() + g_period_us;
    return TD_OK;
}

static int16_t to_lsb(float value, float lsb_per_unit)
{
    const float v = value * lsb_per_unit;
    if (!(v > -32768.0f)) { /* also catches NaN */
        return (int16_t)-32768;
    }
    if (v >= 32767.0f) {
        return (int16_t)32767;
    }
    return (int16_t)lroundf(v);
}

extern "C" int td_hal_sensor_read(int16_t *frame, uint8_t n_channels)
{
    if (g_rate_hz == 0u || frame == NULL || n_channels == 0u || n_channels > 6u) {
        return 0;
    }
    const uint32_t now = micros();
    if ((int32_t)(now - g_next_us) < 0) {
        return 0;
    }
    g_next_us += g_period_us;
    if ((int32_t)(now - g_next_us) >= 0) {
        g_next_us = now + g_period_us; /* more than a period late: skip ahead, no burst of stale frames */
    }
    float ax = 0.0f, ay = 0.0f, az = 0.0f, gx = 0.0f, gy = 0.0f, gz = 0.0f;
    if (IMU.readAcceleration(ax, ay, az) == 0 || IMU.readGyroscope(gx, gy, gz) == 0) {
        return 0;
    }
    const int16_t v[6] = {
        to_lsb(ax, TD_NANO_ACC_LSB_PER_G),   to_lsb(ay, TD_NANO_ACC_LSB_PER_G),   to_lsb(az, TD_NANO_ACC_LSB_PER_G),
        to_lsb(gx, TD_NANO_GYR_LSB_PER_DPS), to_lsb(gy, TD_NANO_GYR_LSB_PER_DPS), to_lsb(gz, TD_NANO_GYR_LSB_PER_DPS),
    };
    memcpy(frame, v, (size_t)n_channels * sizeof v[0]);
    return 1;
}

extern "C" void td_hal_idle(void)
{
    if (Serial.available() > 0) {
        return;
    }
    if (g_rate_hz != 0u && (int32_t)(micros() - g_next_us) >= -1000) {
        return; /* a frame is due within a millisecond */
    }
    delay(1); /* lets Mbed OS's idle thread sleep the CPU; USB and timers wake it */
}

extern "C" uint8_t td_hal_board_id(void)
{
    return (uint8_t)TD_BOARD_NANO33BLE;
}

extern "C" const char *td_hal_board_name(void)
{
    return "Arduino Nano 33 BLE (nRF52840, " TD_NANO_IMU_NAME ")";
}

#endif /* ARDUINO_ARDUINO_NANO33BLE || TD_NANO33BLE_HAL */
