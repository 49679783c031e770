/* mps2.h - registers of the QEMU mps2-an386 board (Cortex-M4 + CMSDK APB peripherals) used by the board layer.
 *
 * Memory map (QEMU hw/arm/mps2.c, AN386 = AN385 layout with a Cortex-M4F):
 *   0x00000000..0x003FFFFF  ZBT SSRAM1 (4 MB, the "flash": code and read-only data, loaded by -kernel)
 *   0x20000000..0x203FFFFF  ZBT SSRAM2/3 (4 MB, data, bss, stack)
 *   0x40004000              CMSDK APB UART0 (-serial #0), RX IRQ 0, TX IRQ 1
 *   0xE000E010              SysTick (CLKSOURCE=1: the 25 MHz SYSCLK)
 * Depends on: <stdint.h>.
 */
#ifndef TINYDRIFT_BOARD_MPS2_H
#define TINYDRIFT_BOARD_MPS2_H

#include <stdint.h>

#define MPS2_SYSCLK_HZ 25000000u

/* CMSDK APB UART0 */
#define UART0_BASE 0x40004000u
#define UART0_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART0_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART0_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART0_INTSTATUS (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART0_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TXFULL 0x1u
#define UART_STATE_RXFULL 0x2u
#define UART_STATE_TXOVR 0x4u
#define UART_STATE_RXOVR 0x8u
#define UART_CTRL_TXEN 0x1u
#define UART_CTRL_RXEN 0x2u
#define UART_CTRL_RXINTEN 0x8u
#define UART_INT_RX 0x2u
#define UART0_RX_IRQn 0u

/* SysTick */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE 0x4u

/* NVIC and SCB */
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)

static inline void mps2_disable_irq(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void mps2_enable_irq(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void mps2_wfi(void) { __asm__ volatile("wfi" ::: "memory"); }
static inline void mps2_dsb_isb(void) { __asm__ volatile("dsb\n\tisb" ::: "memory"); }

/* UART0 (mps2_uart.c): polled transmit; the RX interrupt drains received bytes into a ring buffer. */
void mps2_uart_init(void);
void mps2_uart_putc(uint8_t c);
void mps2_uart_write(const uint8_t *data, uint32_t len);
void mps2_uart_puts(const char *s);
/* Bytes taken from the receive ring (filled by the RX interrupt); returns the count. */
uint32_t mps2_uart_read(uint8_t *buf, uint32_t cap);
/* 1 if the receive ring holds at least one byte. */
int mps2_uart_rx_pending(void);

/** hal_mps2.c: the "sensor_rate=HZ" of the semihosting command line (start the sensor at boot), 0 when absent. */
uint16_t mps2_sensor_autostart_rate(void);

#endif /* TINYDRIFT_BOARD_MPS2_H */
