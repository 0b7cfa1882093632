/*
 * tl_runtime.h - services every firmware image gets: timer, console, stack high-water, halt.
 */
#ifndef TL_RUNTIME_H
#define TL_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

/* ---- timer (tl_timer.c) ---- */
typedef enum { TL_TIMER_DWT = 0, TL_TIMER_SYSTICK = 1 } tl_timer_source_t;

/* Starts the 1 kHz SysTick time base and picks the measurement counter: the DWT cycle counter where
 * the board has one that counts, SysTick otherwise (QEMU does not implement the DWT). */
void tl_timer_init(void);
tl_timer_source_t tl_timer_source(void);
uint32_t tl_timer_hz(void); /* measurement ticks per second: the core clock after reset */
uint32_t tl_timer_ms(void); /* milliseconds since start (wraps) */

/* Measure a region: `uint32_t t = tl_measure_begin(); work(); uint64_t ticks = tl_measure_end(t);`
 * Not nested. The SysTick variant restarts the counter so that tick edges fall at the same instruction
 * in every run. */
uint32_t tl_measure_begin(void);
uint64_t tl_measure_end(uint32_t start);
/* Console bytes received inside the last measured window. Each came with an interrupt whose handler the
 * count includes, so a window with any is disturbed: the host's retransmission arrived while the firmware
 * computed. The applications report it and the host measures again. */
uint32_t tl_measure_disturbances(void);

/* ---- console UART (bsp/<driver>.c) ---- */
void tl_console_init(void);
void tl_console_write(const uint8_t *data, size_t len);
int tl_console_read_byte(void); /* next received byte, or -1 if none */
uint32_t tl_console_rx_overflows(void);
uint32_t tl_console_rx_count(void); /* bytes the receive interrupt has taken since start */
void tl_console_irq_handler(void);

/* ---- stack (startup.c) ---- */
uint32_t tl_stack_size(void);
uint32_t tl_stack_peak(void); /* bytes of the painted stack ever used */

/* ---- end of run (halt.c) ---- */
/* Stops the program. Simulator-only (twin) builds may exit the simulator through semihosting;
 * board images wait for the runner to stop them, since semihosting would lock up a real board. */
void tl_halt(int code) __attribute__((noreturn));

/* Called by the fault handlers with the stacked registers; the application reports it. */
typedef struct {
    uint32_t kind; /* 1 HardFault, 2 MemManage, 3 BusFault, 4 UsageFault, 5 unexpected IRQ */
    uint32_t pc, lr, xpsr, cfsr, hfsr, mmfar, bfar;
} tl_fault_info_t;
void tl_on_fault(const tl_fault_info_t *info);

int main(void);

#endif /* TL_RUNTIME_H */
