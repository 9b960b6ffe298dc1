/* The usual split: one file holds the implementation, others only declarations. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "bitlinear.h" /* including twice is harmless */
