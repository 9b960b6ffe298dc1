#define BITLINEAR_STATIC
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
int static_b_works(void) { return bl_packed_size(BL_FORMAT_BASE3, 2, 9) == 4; }
