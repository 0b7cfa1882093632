/*
 * cmsdk_uart.c - console on an Arm CMSDK APB UART (QEMU's mps2 machines, used by the twin builds).
 */
#include <stdint.h>

#include "tl_board.h"
#include "tl_console_ring.h"
#include "tl_core.h"
#include "tl_runtime.h"

#define UART_DATA TL_REG32(TL_CONSOLE_BASE + 0x00u)
#define UART_STATE TL_REG32(TL_CONSOLE_BASE + 0x04u)
#define UART_CTRL TL_REG32(TL_CONSOLE_BASE + 0x08u)
#define UART_INTSTATUS TL_REG32(TL_CONSOLE_BASE + 0x0Cu)
#define UART_BAUDDIV TL_REG32(TL_CONSOLE_BASE + 0x10u)

#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)
#define CTRL_RX_INT_EN (1u << 3)
#define INT_RX (1u << 1)

void tl_console_init(void)
{
    UART_BAUDDIV = TL_CONSOLE_KERNEL_CLOCK_HZ / TL_CONSOLE_BAUD; /* must be >= 16 */
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
    tl_nvic_enable(TL_CONSOLE_IRQ);
}

void tl_console_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; ++i) {
        while ((UART_STATE & STATE_TX_FULL) != 0u) {
        }
        UART_DATA = data[i];
    }
}

void tl_console_irq_handler(void)
{
    UART_INTSTATUS = INT_RX;
    while ((UART_STATE & STATE_RX_FULL) != 0u) {
        tl_console_rx_push((uint8_t)UART_DATA);
    }
}
