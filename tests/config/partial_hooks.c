/* Must NOT compile: the allocator hooks are all or none. */
#define BITLINEAR_MALLOC(n) malloc(n)
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
int main(void) { return 0; }
