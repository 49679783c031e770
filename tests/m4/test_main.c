/* test_main.c - runs one of the standalone C tests (tests/c/test_*.c, compiled with -Dmain=td_test_main) on the
 * board: newlib's semihosting library (--specs=rdimon.specs) gives it printf on QEMU's stdout, and exit() ends
 * QEMU with the test's status (make test-core-m4). Startup (startup.c) enables the FPU and calls main.
 */
#include <stdlib.h>

extern void initialise_monitor_handles(void);
int td_test_main(void);
int main(void);

int main(void)
{
    initialise_monitor_handles(); /* stdin/stdout/stderr as semihosting handles, before the first printf */
    exit(td_test_main());
}
