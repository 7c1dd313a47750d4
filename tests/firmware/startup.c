/* startup.c — the least a Cortex-M4 image needs before main: a vector table (initial
 * stack pointer, reset handler) and, in the reset handler, the FPU switched on (CP10
 * and CP11 full access) before any float instruction. newlib's rdimon crt0 (_start)
 * then zeroes .bss, sets up semihosting I/O and calls main. */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack_top;

void reset_handler(void) {
  *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* SCB->CPACR */
  __asm volatile("dsb\n\tisb");
  _start();
  for (;;) {
  }
}

static void fault(void) {
  for (;;) {
  }
}

__attribute__((section(".isr_vector"), used)) const void *const vectors[16] = {
    &__stack_top, (void *)reset_handler, (void *)fault, (void *)fault, (void *)fault, (void *)fault, (void *)fault};
