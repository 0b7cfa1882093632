/*
 * startup.c - reset handler, fault handlers, stack painting.
 *
 * The vector table itself is generated per target (tl_board.c) from the board file.
 */
#include <stdint.h>
#include <string.h>

#include "tl_board.h"
#include "tl_core.h"
#include "tl_runtime.h"

#define TL_STACK_PAINT 0xA5A5A5A5u

/* Linker script symbols */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[];
extern uint32_t __stack_bottom[], __stack_top[];

typedef struct {
    uint32_t *start;
    uint32_t *end;
} tl_zero_region_t;
extern const tl_zero_region_t tl_zero_regions[];
extern const uint32_t tl_zero_region_count;

void Reset_Handler(void);
void tl_fault_dispatch(const uint32_t *frame, uint32_t kind);

void Reset_Handler(void)
{
#if TL_HAS_FPU
    /* Before any float instruction: the FPU faults while CP10/CP11 are disabled. */
    TL_SCB_CPACR |= TL_CPACR_CP10_CP11_FULL;
    tl_dsb();
    tl_isb();
#endif
    /* Paint the stack below the current frame so tl_stack_peak() can find the high-water mark. */
    {
        /* leave the top 256 bytes alone: the reset handler's own frame is there */
        const uintptr_t limit = (uintptr_t)__stack_top - 256u;
        for (uint32_t *p = __stack_bottom; (uintptr_t)p < limit; ++p) {
            *p = TL_STACK_PAINT;
        }
    }
    {
        const uint32_t *src = _sidata;
        for (uint32_t *dst = _sdata; (uintptr_t)dst < (uintptr_t)_edata; ++dst) {
            *dst = *src++;
        }
    }
    for (uint32_t *p = _sbss; (uintptr_t)p < (uintptr_t)_ebss; ++p) {
        *p = 0u;
    }
    for (uint32_t i = 0; i < tl_zero_region_count; ++i) {
        for (uint32_t *p = tl_zero_regions[i].start; (uintptr_t)p < (uintptr_t)tl_zero_regions[i].end; ++p) {
            *p = 0u;
        }
    }
    /* Precise fault classes instead of everything escalating to HardFault. */
    TL_SCB_SHCSR |= (1u << 16) | (1u << 17) | (1u << 18);
    (void)main();
    tl_halt(0);
}

uint32_t tl_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t tl_stack_peak(void)
{
    const volatile uint32_t *p = __stack_bottom;
    while ((uintptr_t)p < (uintptr_t)__stack_top && *p == TL_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

void tl_fault_dispatch(const uint32_t *frame, uint32_t kind)
{
    tl_fault_info_t info;
    memset(&info, 0, sizeof info);
    info.kind = kind;
    if (frame != NULL) {
        info.lr = frame[5];
        info.pc = frame[6];
        info.xpsr = frame[7];
    }
    info.cfsr = TL_SCB_CFSR;
    info.hfsr = TL_SCB_HFSR;
    info.mmfar = TL_SCB_MMFAR;
    info.bfar = TL_SCB_BFAR;
    tl_on_fault(&info);
    tl_halt(TL_EXIT_FAULT);
}

/* Each handler hands the stacked exception frame (MSP or PSP) and its kind to tl_fault_dispatch. */
#define TL_FAULT_HANDLER(name, kind)                                                     \
    void name(void) __attribute__((naked));                                             \
    void name(void)                                                                      \
    {                                                                                    \
        __asm volatile("tst lr, #4\n\t"                                                  \
                       "ite eq\n\t"                                                      \
                       "mrseq r0, msp\n\t"                                               \
                       "mrsne r0, psp\n\t"                                               \
                       "movs r1, #" #kind "\n\t"                                         \
                       "b tl_fault_dispatch\n\t");                                       \
    }

TL_FAULT_HANDLER(HardFault_Handler, 1)
TL_FAULT_HANDLER(MemManage_Handler, 2)
TL_FAULT_HANDLER(BusFault_Handler, 3)
TL_FAULT_HANDLER(UsageFault_Handler, 4)
TL_FAULT_HANDLER(tl_unexpected_irq, 5)
