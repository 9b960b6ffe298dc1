/* BITLINEAR_STATIC: two files of one program each carry a private copy. */
#define BITLINEAR_STATIC
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
int static_b_works(void);
int main(void)
{
    return bl_packed_size(BL_FORMAT_2BIT, 2, 9) == 6 && static_b_works() ? 0 : 1;
}
