/*
 * halt_semihosting.c - end of run in a simulator-only (twin) build: exit the simulator with a code.
 *
 * SYS_EXIT_EXTENDED (0x20) carries any exit code; the plain SYS_EXIT (0x18) only tells success or failure.
 */
#include <stdint.h>

#include "tl_runtime.h"

#define TL_SEMIHOSTING_SYS_EXIT_EXTENDED 0x20u
#define TL_ADP_STOPPED_APPLICATION_EXIT 0x20026u

void tl_halt(int code)
{
    volatile uint32_t block[2] = {TL_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    register uint32_t r0 __asm("r0") = TL_SEMIHOSTING_SYS_EXIT_EXTENDED;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) {
    }
}
