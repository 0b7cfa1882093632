/*
 * tl_core.h - the few Cortex-M core registers the runtime uses.
 *
 * CMSIS-Core is not part of this project; this header defines only what the runtime touches
 * (SCB, SysTick, DWT, CoreDebug DEMCR, NVIC enable). Intrinsics come from GCC's <arm_acle.h>.
 */
#ifndef TL_CORE_H
#define TL_CORE_H

#include <stdint.h>

#define TL_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System control block */
#define TL_SCB_VTOR   TL_REG32(0xE000ED08u)
#define TL_SCB_SHCSR  TL_REG32(0xE000ED24u)
#define TL_SCB_CFSR   TL_REG32(0xE000ED28u)
#define TL_SCB_HFSR   TL_REG32(0xE000ED2Cu)
#define TL_SCB_MMFAR  TL_REG32(0xE000ED34u)
#define TL_SCB_BFAR   TL_REG32(0xE000ED38u)
#define TL_SCB_CPACR  TL_REG32(0xE000ED88u)
#define TL_CPACR_CP10_CP11_FULL (0xFu << 20) /* bits 20-23: full access to the FPU */

/* SysTick: 24-bit down counter */
#define TL_SCB_ICSR   TL_REG32(0xE000ED04u)
#define TL_SCB_ICSR_PENDSTCLR (1u << 25) /* drops a pending SysTick exception */
#define TL_SYST_CSR   TL_REG32(0xE000E010u)
#define TL_SYST_RVR   TL_REG32(0xE000E014u)
#define TL_SYST_CVR   TL_REG32(0xE000E018u)
#define TL_SYST_CSR_ENABLE    (1u << 0)
#define TL_SYST_CSR_TICKINT   (1u << 1)
#define TL_SYST_CSR_CLKSOURCE (1u << 2) /* 1 = processor clock */
#define TL_SYST_RELOAD_MAX    0x00FFFFFFu

/* Debug: DEMCR.TRCENA gates the DWT */
#define TL_DEMCR      TL_REG32(0xE000EDFCu)
#define TL_DEMCR_TRCENA (1u << 24)
#define TL_DWT_CTRL   TL_REG32(0xE0001000u)
#define TL_DWT_CYCCNT TL_REG32(0xE0001004u)
#define TL_DWT_LAR    TL_REG32(0xE0001FB0u)
#define TL_DWT_CTRL_CYCCNTENA (1u << 0)
#define TL_DWT_LAR_UNLOCK 0xC5ACCE55u

/* NVIC */
#define TL_NVIC_ISER(n) TL_REG32(0xE000E100u + 4u * (uint32_t)(n))
#define TL_NVIC_ICPR(n) TL_REG32(0xE000E280u + 4u * (uint32_t)(n))

static inline void tl_irq_enable_all(void) { __asm volatile("cpsie i" ::: "memory"); }
static inline void tl_irq_disable_all(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void tl_dsb(void) { __asm volatile("dsb" ::: "memory"); }
static inline void tl_isb(void) { __asm volatile("isb" ::: "memory"); }
static inline void tl_wfi(void) { __asm volatile("wfi"); }

static inline void tl_nvic_enable(uint32_t irq)
{
    TL_NVIC_ICPR(irq >> 5) = 1u << (irq & 31u);
    TL_NVIC_ISER(irq >> 5) = 1u << (irq & 31u);
}

#endif /* TL_CORE_H */
