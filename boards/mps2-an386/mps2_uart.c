/* mps2_uart.c - CMSDK APB UART0 driver: polled transmit, interrupt-driven receive into a ring.
 *
 * QEMU's CMSDK UART model holds one received byte (STATE.RXFULL). Its chardev
 * backend only takes a byte from the TCP socket when that buffer is empty
 * (uart_can_receive), so nothing is ever lost, but every byte needs the guest to
 * read DATA before the next one can come in. The RX interrupt handler moves each
 * byte into a 4 KB ring at once, so the link keeps flowing while the application
 * is busy (a monitor window close, a storage write), and WFI in td_hal_idle wakes
 * on the first byte. When the ring is full the handler leaves the byte in the UART
 * and masks the RX interrupt; mps2_uart_read unmasks it after making room. The UART
 * then stays full, QEMU stops reading the socket and TCP flow control holds the
 * host back: the link is lossless end to end. Transmit polls STATE.TXFULL; QEMU writes the byte to the socket
 * synchronously (or holds TXFULL until the socket drains), so nothing is lost either.
 * Depends on: mps2.h.
 */
#include <stddef.h>

#include "mps2.h"

#define RX_RING_SIZE 4096u /* power of two */

static volatile uint8_t g_rx_ring[RX_RING_SIZE];
static volatile uint32_t g_rx_head; /* written by the ISR */
static volatile uint32_t g_rx_tail; /* written by mps2_uart_read */

void mps2_uart_init(void)
{
    UART0_CTRL = 0u;
    UART0_BAUDDIV = 16u; /* the smallest legal divider; QEMU does not pace the line */
    UART0_STATE = UART_STATE_TXOVR | UART_STATE_RXOVR;
    UART0_INTSTATUS = 0xFu;
    g_rx_head = 0u;
    g_rx_tail = 0u;
    UART0_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXINTEN;
    NVIC_ISER0 = 1u << UART0_RX_IRQn;
}

/* Move received bytes from the UART into the ring while there is room; 0 if the ring filled up. */
static int rx_drain_uart(void)
{
    while (UART0_STATE & UART_STATE_RXFULL) {
        const uint32_t head = g_rx_head;
        if (head - g_rx_tail >= RX_RING_SIZE) {
            return 0;
        }
        g_rx_ring[head & (RX_RING_SIZE - 1u)] = (uint8_t)UART0_DATA;
        g_rx_head = head + 1u;
    }
    return 1;
}

void UART0_RX_Handler(void)
{
    UART0_INTSTATUS = UART_INT_RX; /* write 1 to clear */
    if (!rx_drain_uart()) {
        UART0_CTRL &= ~UART_CTRL_RXINTEN; /* ring full: hold the byte in the UART (backpressure) */
    }
}

uint32_t mps2_uart_read(uint8_t *buf, uint32_t cap)
{
    uint32_t n = 0;
    uint32_t tail = g_rx_tail;
    const uint32_t head = g_rx_head;
    while (n < cap && tail != head) {
        buf[n++] = g_rx_ring[tail & (RX_RING_SIZE - 1u)];
        tail++;
    }
    g_rx_tail = tail;
    if (!(UART0_CTRL & UART_CTRL_RXINTEN)) {
        /* The handler masked RX on a full ring. Unmask first, then take the byte held meanwhile: a byte
         * that arrived while masked raised no interrupt, and the UART takes no other until it is read. */
        mps2_disable_irq();
        UART0_CTRL |= UART_CTRL_RXINTEN;
        if (!rx_drain_uart()) {
            UART0_CTRL &= ~UART_CTRL_RXINTEN; /* still no room: stay masked until the next read */
        }
        mps2_enable_irq();
    }
    return n;
}

int mps2_uart_rx_pending(void)
{
    return g_rx_head != g_rx_tail;
}

void mps2_uart_putc(uint8_t c)
{
    while (UART0_STATE & UART_STATE_TXFULL) {
    }
    UART0_DATA = c;
}

void mps2_uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        mps2_uart_putc(data[i]);
    }
}

void mps2_uart_puts(const char *s)
{
    while (*s != '\0') {
        mps2_uart_putc((uint8_t)*s++);
    }
}
