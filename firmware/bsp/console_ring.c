/*
 * console_ring.c - the receive ring shared by every console driver.
 *
 * The UART interrupt pushes bytes; the application pulls them. Single producer, single consumer:
 * head is written only by the interrupt, tail only by the application.
 */
#include <stdint.h>

#include "tl_board.h"
#include "tl_console_ring.h"
#include "tl_runtime.h"

#define TL_RING_MASK (TL_CONSOLE_RX_BYTES - 1u)
#if (TL_CONSOLE_RX_BYTES & TL_RING_MASK) != 0
#error "TL_CONSOLE_RX_BYTES must be a power of two"
#endif

static volatile uint8_t g_ring[TL_CONSOLE_RX_BYTES];
static volatile uint32_t g_head;
static volatile uint32_t g_tail;
static volatile uint32_t g_overflows;
static volatile uint32_t g_received;

void tl_console_rx_push(uint8_t byte)
{
    g_received++;
    uint32_t head = g_head;
    if (head - g_tail >= TL_CONSOLE_RX_BYTES) {
        g_overflows++;
        return;
    }
    g_ring[head & TL_RING_MASK] = byte;
    g_head = head + 1u;
}

int tl_console_read_byte(void)
{
    uint32_t tail = g_tail;
    if (tail == g_head) {
        return -1;
    }
    uint8_t byte = g_ring[tail & TL_RING_MASK];
    g_tail = tail + 1u;
    return byte;
}

uint32_t tl_console_rx_overflows(void)
{
    return g_overflows;
}

uint32_t tl_console_rx_count(void)
{
    return g_received;
}
