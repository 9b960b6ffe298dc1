#include "bitlinear.h"
int main(void) { return bl_status_string(BL_ERR_FORMAT)[0] ? 0 : 1; }
