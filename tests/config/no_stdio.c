/* BITLINEAR_NO_STDIO: the library must not pull in <stdio.h>. */
#define BITLINEAR_NO_STDIO
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#ifdef EOF
#error "bitlinear.h included <stdio.h> under BITLINEAR_NO_STDIO"
#endif
int main(void) { return bl_get_backend() == BL_BACKEND_AUTO; }
