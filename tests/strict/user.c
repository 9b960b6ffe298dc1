/* A user's file: includes bitlinear.h for its declarations only, and uses the README's
   zero-initialisation idioms. Compiled by tests/run_strict.sh under strict warnings. */
#include "bitlinear.h"
#include <string.h>

#ifdef __cplusplus
#  define USER_NULL nullptr
#else
#  define USER_NULL NULL
#endif

int strict_user_forward(void); /* defined here, called from impl.c */

int strict_user_forward(void)
{
    static const float w[6] = { 1.0f, -1.0f, 0.5f, 0.0f, 2.0f, -3.0f };
    static const float x[3] = { 1.0f, 2.0f, 3.0f };
    float y[2] = { 0.0f, 0.0f };
    bl_linear *layer = USER_NULL;
    bl_linear_desc d;                /* README: memset works in C and C++ alike */
#ifdef __cplusplus
    bl_linear_desc e = {};           /* README: the C++ spelling */
#else
    bl_linear_desc e = { 0 };        /* README: the C spelling */
#endif
    memset(&d, 0, sizeof d);
    if (memcmp(&d, &e, sizeof d) != 0) return 1;
    d.in_features = 3;
    d.out_features = 2;
    d.weight = w;
    if (bl_linear_create(&d, &layer) != BL_OK) return 2;
    if (bl_linear_forward(layer, x, 1, y, USER_NULL) != BL_OK) return 3;
    bl_linear_destroy(layer);
    /* w = [[1,-1,0.5],[0,2,-3]]: y ~= [0.5, -5] */
    if (!(y[0] > 0.0f && y[1] < 0.0f)) return 4;
    if (bl_status_string(BL_ERR_IO)[0] == '\0') return 5;
    return 0;
}
