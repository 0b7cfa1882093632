#ifndef TL_CONSOLE_RING_H
#define TL_CONSOLE_RING_H

#include <stdint.h>

/* Called from a console driver's interrupt handler for each received byte. */
void tl_console_rx_push(uint8_t byte);

#endif /* TL_CONSOLE_RING_H */
