/*
 * tl_timer.c - the millisecond time base and the measurement counter.
 *
 * Time base: SysTick interrupts once per millisecond of core clock (the link's retransmission timer, and
 * the wake-up for WFI while waiting for input).
 *
 * Measurement (tl_measure_begin/end):
 * - DWT->CYCCNT where it counts: core cycles on a real board; executed instructions on Renode, whose
 *   platforms run the DWT at 1 GHz and the core at 1000 MIPS (one instruction per virtual nanosecond).
 * - SysTick elsewhere (QEMU does not implement the DWT: CYCCNT reads 0). The measured window restarts
 *   SysTick with its full 24-bit reload, so tick edges fall at the same instruction in every run: under
 *   QEMU -icount shift=0 one instruction is one nanosecond of virtual time, so a tick is exactly
 *   1e9 / systick_hz instructions and the count is exact to that granularity and repeatable.
 * With either counter, SysTick runs with its full reload inside a measured window, so the 1 ms tick
 * handler (which would land at host-dependent moments) is not part of the count; the window's ticks
 * are added to the millisecond count when it ends.
 */
#include <stdint.h>

#include "tl_board.h"
#include "tl_core.h"
#include "tl_runtime.h"

#define TL_TICKS_PER_MS (TL_RESET_CLOCK_HZ / 1000u)

static tl_timer_source_t g_source = TL_TIMER_SYSTICK;
static volatile uint32_t g_ms;
static volatile uint32_t g_measure_wraps;
static volatile uint32_t g_measuring;
static uint32_t g_rx_at_begin;
static uint32_t g_disturbances;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    if (g_measuring) {
        g_measure_wraps++;
    } else {
        g_ms++;
    }
}

/* CYCCNT, read by a load that begins a translation block in simulators that translate code in blocks
 * (Renode's tlib brings its executed-instruction count up to date only at block boundaries, so a load in
 * the middle of a block would miss the instructions before it in that block). The branch ends the
 * previous block; on silicon it costs one branch. */
static inline uint32_t dwt_read(void)
{
    uint32_t value;
    __asm volatile("b 1f\n"
                   "1:\n\t"
                   "ldr %0, [%1]"
                   : "=r"(value)
                   : "r"(&TL_DWT_CYCCNT)
                   : "memory");
    return value;
}

static void systick_start(uint32_t reload)
{
    TL_SYST_CSR = 0u;
    TL_SYST_RVR = reload;
    TL_SYST_CVR = 0u; /* restarts the count: the next edge is one full tick after this write */
    TL_SYST_CSR = TL_SYST_CSR_CLKSOURCE | TL_SYST_CSR_TICKINT | TL_SYST_CSR_ENABLE;
}

#if TL_TIMER_PREFER_DWT
static int dwt_counts(void)
{
    TL_DEMCR |= TL_DEMCR_TRCENA;
    TL_DWT_LAR = TL_DWT_LAR_UNLOCK; /* Cortex-M7 locks the DWT after reset */
    TL_DWT_CYCCNT = 0u;
    TL_DWT_CTRL |= TL_DWT_CTRL_CYCCNTENA;
    uint32_t before = TL_DWT_CYCCNT;
    for (volatile uint32_t i = 0; i < 16u; ++i) {
    }
    return TL_DWT_CYCCNT != before;
}
#endif

void tl_timer_init(void)
{
#if TL_TIMER_PREFER_DWT
    g_source = dwt_counts() ? TL_TIMER_DWT : TL_TIMER_SYSTICK;
#else
    g_source = TL_TIMER_SYSTICK;
#endif
    systick_start(TL_TICKS_PER_MS - 1u);
}

tl_timer_source_t tl_timer_source(void)
{
    return g_source;
}

uint32_t tl_timer_hz(void)
{
    return TL_RESET_CLOCK_HZ;
}

uint32_t tl_timer_ms(void)
{
    return g_ms;
}

/* Stops SysTick and drops its exception if one fell due and is still pending: otherwise a 1 ms tick that
 * expired just before a measured window would be taken inside it and counted as a wrap of 2^24 ticks. */
static void systick_stop(void)
{
    TL_SYST_CSR = 0u;
    TL_SCB_ICSR = TL_SCB_ICSR_PENDSTCLR;
}

uint32_t tl_measure_begin(void)
{
    systick_stop();
    g_measure_wraps = 0u;
    g_measuring = 1u;
    g_rx_at_begin = tl_console_rx_count();
    systick_start(TL_SYST_RELOAD_MAX);
    if (g_source == TL_TIMER_DWT) {
        return dwt_read();
    }
    return 0u;
}

uint64_t tl_measure_end(uint32_t start)
{
    const int dwt = g_source == TL_TIMER_DWT;
    /* one 32-bit wrap at most: 53 s at 80 MHz */
    const uint32_t cycles = dwt ? (uint32_t)(dwt_read() - start) : 0u;
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = g_measure_wraps;
        value = TL_SYST_CVR;
    } while (wraps != g_measure_wraps);
    /* After the CVR write the counter holds 0; the first edge reloads it to MAX, each further edge
     * decrements it, and the 1 -> 0 step raises the interrupt. So after E edges:
     * E = wraps * 2^24 + ((MAX + 1 - value) mod 2^24). */
    uint64_t ticks = (uint64_t)wraps * (TL_SYST_RELOAD_MAX + 1u) +
                     ((TL_SYST_RELOAD_MAX + 1u - value) & TL_SYST_RELOAD_MAX);
    systick_stop();
    g_measuring = 0u;
    g_disturbances = tl_console_rx_count() - g_rx_at_begin;
    g_ms += (uint32_t)(ticks / TL_TICKS_PER_MS);
    systick_start(TL_TICKS_PER_MS - 1u);
    return dwt ? cycles : ticks;
}

uint32_t tl_measure_disturbances(void)
{
    return g_disturbances;
}
