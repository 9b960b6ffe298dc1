/* The implementation unit, compiled by tests/run_strict.sh under strict warnings, linked
   with user.c (which sees the declarations only). */
#include <stdio.h>
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"

int strict_user_forward(void);

int main(void)
{
    int r = strict_user_forward();
    printf("strict: %d passed, %d failed\n", r == 0 ? 1 : 0, r == 0 ? 0 : 1);
    if (r != 0) printf("FAILED: strict_user_forward returned %d\n", r);
    return r == 0 ? 0 : 1;
}
