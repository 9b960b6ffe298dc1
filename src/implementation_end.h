/* ==== bitlinear: end of the implementation ============================== */
/* Restores the warnings src/internal.h turned off for the implementation under C++. */
#if defined(__cplusplus) && (defined(__GNUC__) || defined(__clang__))
#  pragma GCC diagnostic pop
#endif
