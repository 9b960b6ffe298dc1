/* ==== bitlinear: status strings and version ============================== */
#define BL__STRINGIFY2(x) #x
#define BL__STRINGIFY(x) BL__STRINGIFY2(x)
BITLINEAR_DEF const char *bl_version(void)
{
    return BL__STRINGIFY(BITLINEAR_VERSION_MAJOR) "." BL__STRINGIFY(BITLINEAR_VERSION_MINOR) "."
           BL__STRINGIFY(BITLINEAR_VERSION_PATCH);
}

BITLINEAR_DEF const char *bl_status_string(bl_status s)
{
    switch (s) {
    case BL_OK:              return "ok";
    case BL_ERR_INVALID:     return "invalid argument";
    case BL_ERR_NOMEM:       return "out of memory";
    case BL_ERR_OVERFLOW:    return "size overflow";
    case BL_ERR_NONFINITE:   return "NaN or infinity in the data";
    case BL_ERR_FORMAT:      return "corrupt or truncated data";
    case BL_ERR_UNSUPPORTED: return "unsupported by this build or CPU";
    case BL_ERR_IO:          return "I/O error";
    case BL_ERR_DEVICE:      return "device error";
    default:                 break;
    }
    return "unknown status";
}
