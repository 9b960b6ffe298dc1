/* The implementation of bitlinear.h, compiled once for the bitlinear_static library
   (CMake option BITLINEAR_BUILD_LIBRARY). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
