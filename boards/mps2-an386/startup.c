/* startup.c - vector table, reset handler and fault handlers of the mps2-an386 board.
 *
 * Reset: enable the FPU (CPACR CP10/CP11 full access; the firmware is built with
 * -mfloat-abi=hard, so the compiler may use FP registers anywhere), copy .data from
 * its load address, zero .bss, call main. Symbols come from mps2-an386.ld.
 * The HardFault handler completes semihosting BKPTs when QEMU runs without
 * -semihosting-config (r0 = -1, skip the BKPT); any other fault prints the fault
 * registers on UART0 and stops.
 * Depends on: mps2.h, semihost.h.
 */
#include <stdint.h>

#include "mps2.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void mps2_hardfault_c(uint32_t *frame, uint32_t exc_return);

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UART0_RX_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UART0_TX_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_t)(void);

/* 16 system exceptions + 32 external interrupts (QEMU's AN385/AN386 NVIC has num-irq 32). */
__attribute__((section(".isr_vector"), used)) const vector_t mps2_vectors[16 + 32] = {
    (vector_t)(uintptr_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    /* IRQ 0: UART0 RX, IRQ 1: UART0 TX; the rest unused */
    UART0_RX_Handler,
    UART0_TX_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
};

void Reset_Handler(void)
{
    /* CP10 and CP11 full access before any floating-point instruction can run. */
    SCB_CPACR |= (0xFu << 20);
    mps2_dsb_isb();
    const uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    (void)main();
    for (;;) {
        mps2_wfi();
    }
}

static void put_hex(const char *name, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    mps2_uart_puts(name);
    mps2_uart_puts("=0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        mps2_uart_putc((uint8_t)digits[(v >> shift) & 0xFu]);
    }
    mps2_uart_puts(" ");
}

static void fatal(const char *what, const uint32_t *frame)
{
    mps2_uart_puts("\r\n*** ");
    mps2_uart_puts(what);
    mps2_uart_puts(": ");
    if (frame != 0) {
        put_hex("pc", frame[6]);
        put_hex("lr", frame[5]);
    }
    put_hex("cfsr", SCB_CFSR);
    put_hex("hfsr", SCB_HFSR);
    mps2_uart_puts("\r\n");
    for (;;) {
        mps2_wfi();
    }
}

void Default_Handler(void)
{
    fatal("unexpected exception", 0);
}

/* frame: the stacked r0-r3, r12, lr, pc, xpsr of the faulting context. */
void mps2_hardfault_c(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    const uint16_t *pc = (const uint16_t *)(uintptr_t)frame[6];
    if (*pc == 0xBEABu) { /* BKPT 0xAB: semihosting call without a semihosting host */
        SCB_HFSR = SCB_HFSR;  /* clear the sticky DEBUGEVT/FORCED bits (write 1 to clear) */
        frame[0] = 0xFFFFFFFFu;
        frame[6] += 2u;
        return;
    }
    fatal("HardFault", frame);
}

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mov r1, lr\n\t"
        "b mps2_hardfault_c\n\t");
}
