/* Tiny test harness: CHECK counts, the summary line is read by tests/run.sh. */
#ifndef BL_TEST_H
#define BL_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define BT_UNUSED __attribute__((unused))
#else
#define BT_UNUSED
#endif

static int bt_passed, bt_failed;

#define CHECK(cond) bt_check((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
#define CHECK_EQ_INT(a, b) bt_check_int((long long)(a), (long long)(b), #a " == " #b, __FILE__, __LINE__)

BT_UNUSED static void bt_check(int ok, const char *what, const char *file, int line)
{
    if (ok) { ++bt_passed; return; }
    ++bt_failed;
    if (bt_failed <= 20) fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
}
BT_UNUSED static void bt_check_int(long long a, long long b, const char *what, const char *file, int line)
{
    if (a != b && bt_failed < 20) fprintf(stderr, "%s:%d: %lld != %lld\n", file, line, a, b);
    bt_check(a == b, what, file, line);
}

/* xorshift64*: deterministic, the same on every platform */
static uint64_t bt_state = 0x9E3779B97F4A7C15ull;
BT_UNUSED static void bt_seed(uint64_t s) { bt_state = s ? s : 1; }
BT_UNUSED static uint32_t bt_u32(void)
{
    bt_state ^= bt_state >> 12; bt_state ^= bt_state << 25; bt_state ^= bt_state >> 27;
    return (uint32_t)((bt_state * 0x2545F4914F6CDD1Dull) >> 32);
}
BT_UNUSED static float bt_uniform(float lo, float hi) { return lo + (hi - lo) * (float)(bt_u32() >> 8) * (1.0f / 16777216.0f); }
BT_UNUSED static float bt_gauss(void)
{
    float u = bt_uniform(1e-7f, 1.0f), v = bt_uniform(0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u)) * cosf(6.28318530718f * v);
}
BT_UNUSED static int bt_int(int lo, int hi) { return lo + (int)(bt_u32() % (uint32_t)(hi - lo + 1)); }
BT_UNUSED static void *bt_alloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) { fprintf(stderr, "out of memory\n"); exit(2); } return p; }

BT_UNUSED static int bt_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, bt_passed, bt_failed);
    return bt_failed ? 1 : 0;
}
#endif
