/*
 * halt_board.c - end of run on a board image: wait to be stopped.
 *
 * The same image runs on a real board, where a semihosting call without a debugger would fault, so the
 * run ends through the link (the application's last message) and the runner stops the simulator.
 */
#include "tl_core.h"
#include "tl_runtime.h"

void tl_halt(int code)
{
    (void)code;
    for (;;) {
        tl_wfi();
    }
}
