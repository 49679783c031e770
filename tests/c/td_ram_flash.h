/* td_ram_flash.h - the RAM-flash board of the C test harnesses: the storage half of td_hal.h over a static
 * byte array with NOR-flash semantics. tests/c/test_app.c, tests/c/test_store_powercut.c and fuzz/fuzz_app.c
 * include it (fuzz/fuzz.mk adds -Itests/c).
 *
 * Include it in exactly one .c file of a program, after defining TD_RAM_FLASH_CAPACITY (the array's bytes,
 * default 16 KB) if needed: it defines the flash g_flash and td_hal_storage_size, _page_size, _read, _erase
 * and _write over it. The harness sets g_flash.size and g_flash.page (what the HAL reports; size <= capacity)
 * and g_flash.rule before the first call. Erase sets whole pages to 0xFF; a write clears bits (AND), in one of
 * two rules:
 *   TD_RAM_FLASH_AND          a write that would turn a 0 bit into 1 is refused (TD_ERR_STATE): the cell cannot
 *   TD_RAM_FLASH_ERASED_ONLY  a write may only target erased bytes (the nRF52840 NVMC's contract): any other
 *                             is a violation (below), refused with TD_ERR_STATE
 * What differs between the harnesses is theirs, through hooks in g_flash (NULL: none):
 *   gate       called first by every storage call, reads too; a status other than TD_OK is returned as it is
 *              (the power-cut loop: power is off after a cut)
 *   violation  a call the HAL contract forbids: out of range, misaligned (an erase to pages, a write to 4
 *              bytes), or a write over bytes that are not erased under TD_RAM_FLASH_ERASED_ONLY; the call then
 *              returns TD_ERR_ARG (TD_ERR_STATE for the last) (the power-cut loop counts, the fuzzer traps)
 *   cut        called by an erase or a write that passed the checks, before the AND rule and the effect; a
 *              status other than TD_OK is returned as it is, after whatever the hook left in g_flash.mem: the
 *              harness's own model of an interrupted operation (and its operation trace, or its write budget)
 * An operation: gate, range and alignment (and erased bytes), cut, AND rule, effect.
 */
#ifndef TINYDRIFT_TESTS_TD_RAM_FLASH_H
#define TINYDRIFT_TESTS_TD_RAM_FLASH_H

#include <stdint.h>
#include <string.h>

#include "td_hal.h"

#ifndef TD_RAM_FLASH_CAPACITY
#define TD_RAM_FLASH_CAPACITY (16u * 1024u)
#endif

/* The storage call a hook is called for. */
typedef enum { TD_RAM_FLASH_READ, TD_RAM_FLASH_ERASE, TD_RAM_FLASH_WRITE } td_ram_flash_op_t;

/* What a write may do to bits already programmed (see the top of this file). */
typedef enum { TD_RAM_FLASH_AND, TD_RAM_FLASH_ERASED_ONLY } td_ram_flash_rule_t;

/* The flash: its bytes, what the HAL reports, the write rule and the harness's hooks. */
typedef struct {
    uint8_t mem[TD_RAM_FLASH_CAPACITY];
    uint32_t size; /* bytes the HAL reports, at most TD_RAM_FLASH_CAPACITY */
    uint32_t page; /* erase page size the HAL reports */
    td_ram_flash_rule_t rule;
    td_status (*gate)(td_ram_flash_op_t op);
    void (*violation)(td_ram_flash_op_t op, uint32_t offset, uint32_t len);
    td_status (*cut)(td_ram_flash_op_t op, uint32_t offset, const uint8_t *data, uint32_t len);
} td_ram_flash_t;

/* The board's one flash. */
static td_ram_flash_t g_flash;

/* 1 if [offset, offset + len) lies inside the reported size. */
static inline int td_ram_flash_in_region(uint32_t offset, uint32_t len)
{
    return offset <= g_flash.size && len <= g_flash.size - offset;
}

/* 1 if every byte of [offset, offset + len) is erased (0xFF). */
static inline int td_ram_flash_is_erased(uint32_t offset, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        if (g_flash.mem[offset + i] != 0xFFu) {
            return 0;
        }
    }
    return 1;
}

/* 1 if writing data at offset only clears bits (the AND rule). */
static inline int td_ram_flash_can_program(uint32_t offset, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        if ((uint8_t)(g_flash.mem[offset + i] & data[i]) != data[i]) {
            return 0;
        }
    }
    return 1;
}

/* Programs len bytes at offset as NOR flash does: each byte becomes old AND new. */
static inline void td_ram_flash_program(uint32_t offset, const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        g_flash.mem[offset + i] &= data[i];
    }
}

/* Sets len bytes at offset to 0xFF, as an erase does. */
static inline void td_ram_flash_fill(uint32_t offset, uint32_t len)
{
    memset(g_flash.mem + offset, 0xFF, len);
}

/* Erases the whole array (all TD_RAM_FLASH_CAPACITY bytes, whatever size is reported). */
static inline void td_ram_flash_erase_all(void)
{
    memset(g_flash.mem, 0xFF, sizeof g_flash.mem);
}

/* Reports a contract violation to the hook and returns status. */
static inline td_status td_ram_flash_violation(td_ram_flash_op_t op, uint32_t offset, uint32_t len, td_status status)
{
    if (g_flash.violation != NULL) {
        g_flash.violation(op, offset, len);
    }
    return status;
}

/* The gate hook's verdict (TD_OK without one). */
static inline td_status td_ram_flash_gate(td_ram_flash_op_t op)
{
    return g_flash.gate != NULL ? g_flash.gate(op) : TD_OK;
}

/* The cut hook's verdict (TD_OK without one). */
static inline td_status td_ram_flash_cut(td_ram_flash_op_t op, uint32_t offset, const uint8_t *data, uint32_t len)
{
    return g_flash.cut != NULL ? g_flash.cut(op, offset, data, len) : TD_OK;
}

uint32_t td_hal_storage_size(void)
{
    return g_flash.size;
}

uint32_t td_hal_storage_page_size(void)
{
    return g_flash.page;
}

td_status td_hal_storage_read(uint32_t offset, uint8_t *buf, uint32_t len)
{
    const td_status g = td_ram_flash_gate(TD_RAM_FLASH_READ);
    if (g != TD_OK) {
        return g;
    }
    if (!td_ram_flash_in_region(offset, len)) {
        return td_ram_flash_violation(TD_RAM_FLASH_READ, offset, len, TD_ERR_ARG);
    }
    memcpy(buf, g_flash.mem + offset, len);
    return TD_OK;
}

td_status td_hal_storage_erase(uint32_t offset, uint32_t len)
{
    td_status s = td_ram_flash_gate(TD_RAM_FLASH_ERASE);
    if (s != TD_OK) {
        return s;
    }
    if (!td_ram_flash_in_region(offset, len) || offset % g_flash.page != 0u || len % g_flash.page != 0u) {
        return td_ram_flash_violation(TD_RAM_FLASH_ERASE, offset, len, TD_ERR_ARG);
    }
    s = td_ram_flash_cut(TD_RAM_FLASH_ERASE, offset, NULL, len);
    if (s != TD_OK) {
        return s;
    }
    td_ram_flash_fill(offset, len);
    return TD_OK;
}

td_status td_hal_storage_write(uint32_t offset, const uint8_t *data, uint32_t len)
{
    td_status s = td_ram_flash_gate(TD_RAM_FLASH_WRITE);
    if (s != TD_OK) {
        return s;
    }
    if (!td_ram_flash_in_region(offset, len) || offset % 4u != 0u || len % 4u != 0u) {
        return td_ram_flash_violation(TD_RAM_FLASH_WRITE, offset, len, TD_ERR_ARG);
    }
    if (g_flash.rule == TD_RAM_FLASH_ERASED_ONLY && !td_ram_flash_is_erased(offset, len)) {
        return td_ram_flash_violation(TD_RAM_FLASH_WRITE, offset, len, TD_ERR_STATE);
    }
    s = td_ram_flash_cut(TD_RAM_FLASH_WRITE, offset, data, len);
    if (s != TD_OK) {
        return s;
    }
    if (!td_ram_flash_can_program(offset, data, len)) {
        return TD_ERR_STATE; /* the cell cannot turn a 0 bit back into 1 without an erase */
    }
    td_ram_flash_program(offset, data, len);
    return TD_OK;
}

#endif
