/* ==== bitlinear: backend selection ======================================== */
/* The only global state: the backend in use (AUTO until set) and the CPU flags
   (cpu.c), both read and written atomically so that threads may race benignly. */

static int bl__backend_in_use = (int)BL_BACKEND_AUTO;

/* The kernels of a backend, or NULL when this build or CPU lacks it. */
static const bl__backend_kernels *bl__kernels_of(bl_backend b)
{
    switch (b) {
    case BL_BACKEND_SCALAR: return &bl__kernels_scalar;
#ifdef BL__HAVE_AVX2
    case BL_BACKEND_AVX2:   return (bl__cpu_flags() & BL__CPU_AVX2) ? &bl__kernels_avx2 : NULL;
#endif
#ifdef BL__HAVE_AVX512
    case BL_BACKEND_AVX512: return (bl__cpu_flags() & BL__CPU_AVX512) ? &bl__kernels_avx512 : NULL;
#endif
#ifdef BL__HAVE_NEON
    case BL_BACKEND_NEON:   return &bl__kernels_neon;
#endif
#ifdef BL__HAVE_WASM
    case BL_BACKEND_WASM:   return &bl__kernels_wasm;
#endif
    default:                return NULL;
    }
}

static bl_backend bl__best_backend(void)
{
    static const bl_backend order[] = { BL_BACKEND_AVX512, BL_BACKEND_AVX2, BL_BACKEND_NEON,
                                        BL_BACKEND_WASM };
    size_t i;
    for (i = 0; i < sizeof order / sizeof order[0]; ++i)
        if (bl__kernels_of(order[i])) return order[i];
    return BL_BACKEND_SCALAR;
}

static const bl__backend_kernels *bl__active_kernels(void)
{
    return bl__kernels_of(bl_get_backend());
}

BITLINEAR_DEF bl_status bl_set_backend(bl_backend b)
{
    if (b == BL_BACKEND_AUTO) {
        bl__atomic_store(&bl__backend_in_use, (int)bl__best_backend());
        return BL_OK;
    }
    if ((int)b < BL_BACKEND_AUTO || (int)b > BL_BACKEND_WASM || !bl__kernels_of(b)) return BL_ERR_UNSUPPORTED;
    bl__atomic_store(&bl__backend_in_use, (int)b);
    return BL_OK;
}

BITLINEAR_DEF bl_backend bl_get_backend(void)
{
    bl_backend b = (bl_backend)bl__atomic_load(&bl__backend_in_use);
    return b == BL_BACKEND_AUTO ? bl__best_backend() : b;
}

BITLINEAR_DEF const char *bl_backend_name(bl_backend b)
{
    switch (b) {
    case BL_BACKEND_AUTO:   return "auto";
    case BL_BACKEND_SCALAR: return "scalar";
    case BL_BACKEND_AVX2:   return "avx2";
    case BL_BACKEND_AVX512: return "avx512";
    case BL_BACKEND_NEON:   return "neon";
    case BL_BACKEND_WASM:   return "wasm";
    default:                break;
    }
    return "unknown";
}
