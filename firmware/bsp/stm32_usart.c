/*
 * stm32_usart.c - console on an STM32 USART (the L4/H7 register family: ISR 0x1C, RDR 0x24, TDR 0x28).
 *
 * Used by the real NUCLEO-L476RG (USART2) and NUCLEO-H743ZI (USART3), by QEMU's STM32L4 machine and by
 * Renode's STM32F7_USART model. Transmit polls TXE; receive is interrupt driven into a ring so bytes that
 * arrive while the application computes are kept.
 */
#include <stdint.h>

#include "tl_board.h"
#include "tl_console_ring.h"
#include "tl_core.h"
#include "tl_runtime.h"

#define USART_CR1 TL_REG32(TL_CONSOLE_BASE + 0x00u)
#define USART_BRR TL_REG32(TL_CONSOLE_BASE + 0x0Cu)
#define USART_ISR TL_REG32(TL_CONSOLE_BASE + 0x1Cu)
#define USART_ICR TL_REG32(TL_CONSOLE_BASE + 0x20u)
#define USART_RDR TL_REG32(TL_CONSOLE_BASE + 0x24u)
#define USART_TDR TL_REG32(TL_CONSOLE_BASE + 0x28u)

#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define ISR_ERRORS 0x0Fu /* PE, FE, NF, ORE */
#define ISR_RXNE (1u << 5)
#define ISR_TXE (1u << 7)

#define GPIO_MODER(port) TL_REG32((port) + 0x00u)
#define GPIO_AFR(port, pin) TL_REG32((port) + 0x20u + 4u * ((pin) >> 3))

static void gpio_alternate(uint32_t port, uint32_t pin, uint32_t af)
{
    uint32_t moder = GPIO_MODER(port);
    moder &= ~(3u << (2u * pin));
    moder |= 2u << (2u * pin);
    GPIO_MODER(port) = moder;
    uint32_t shift = 4u * (pin & 7u);
    uint32_t afr = GPIO_AFR(port, pin);
    afr &= ~(0xFu << shift);
    afr |= af << shift;
    GPIO_AFR(port, pin) = afr;
}

void tl_console_init(void)
{
    TL_REG32(TL_CONSOLE_GPIO_CLOCK_REG) |= 1u << TL_CONSOLE_GPIO_CLOCK_BIT;
    (void)TL_REG32(TL_CONSOLE_GPIO_CLOCK_REG); /* the clock takes effect before the port is touched */
    gpio_alternate(TL_CONSOLE_GPIO_PORT, TL_CONSOLE_TX_PIN, TL_CONSOLE_GPIO_AF);
    gpio_alternate(TL_CONSOLE_GPIO_PORT, TL_CONSOLE_RX_PIN, TL_CONSOLE_GPIO_AF);
    TL_REG32(TL_CONSOLE_CLOCK_REG) |= 1u << TL_CONSOLE_CLOCK_BIT;
    (void)TL_REG32(TL_CONSOLE_CLOCK_REG);

    USART_CR1 = 0u;
    USART_BRR = (TL_CONSOLE_KERNEL_CLOCK_HZ + TL_CONSOLE_BAUD / 2u) / TL_CONSOLE_BAUD;
    USART_CR1 = CR1_TE | CR1_RE | CR1_RXNEIE;
    USART_CR1 |= CR1_UE;
#ifdef TL_CONSOLE_IRQ_UNMASK_REG
    /* The interrupt passes an EXTI line on the way to the NVIC (set at reset on silicon; QEMU models it). */
    TL_REG32(TL_CONSOLE_IRQ_UNMASK_REG) |= 1u << TL_CONSOLE_IRQ_UNMASK_BIT;
#endif
    tl_nvic_enable(TL_CONSOLE_IRQ);
}

void tl_console_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; ++i) {
        while ((USART_ISR & ISR_TXE) == 0u) {
        }
        USART_TDR = data[i];
    }
}

void tl_console_irq_handler(void)
{
    uint32_t isr = USART_ISR;
    if ((isr & ISR_ERRORS) != 0u) {
        USART_ICR = isr & ISR_ERRORS;
    }
    while ((USART_ISR & ISR_RXNE) != 0u) {
        tl_console_rx_push((uint8_t)USART_RDR);
    }
}
