// The CPU renderer's colour pass (docs/rendering.md, "Colour"): a few 32-bit multiply-adds a pixel.
// Written once as a plain loop and compiled three times with different target attributes, so the
// compiler vectorises it for AVX2 (eight 32-bit lanes with a native multiply), SSE4.1 (four, native
// multiply) and the x86-64 baseline SSE2 (which has no 32-bit multiply and emulates it). Swift's
// SIMD8 code could only use the baseline, which made this pass half of the renderer's time.
#include "colour.h"
#include <stdatomic.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static inline __attribute__((always_inline)) void convert_rows(
    const tessera_ycbcr_fixed *k, const uint8_t *py, const uint8_t *pb, const uint8_t *pr, ptrdiff_t ss,
    uint8_t *dst, ptrdiff_t ds, int width, int height) {
    const int32_t ky = k->y, kr = k->rCr * 16, kgu = k->gCb * 16, kgv = k->gCr * 16, kb = k->bCb * 16;
    const int32_t r0 = k->r0, g0 = k->g0, b0 = k->b0;
    for (int row = 0; row < height; row++) {
        const uint8_t *restrict sy = py + row * ss, *restrict su = pb + row * ss, *restrict sv = pr + row * ss;
        uint32_t *restrict out = (uint32_t *)(void *)(dst + row * ds);
#pragma clang loop vectorize(enable) interleave(enable)
        for (int x = 0; x < width; x++) {
            int32_t l = (int32_t)sy[x] * ky, u = su[x], v = sv[x];
            int32_t r = (l + v * kr + r0) >> 20;
            int32_t g = (l + u * kgu + v * kgv + g0) >> 20;
            int32_t b = (l + u * kb + b0) >> 20;
            r = r < 0 ? 0 : r > 255 ? 255 : r;
            g = g < 0 ? 0 : g > 255 ? 255 : g;
            b = b < 0 ? 0 : b > 255 ? 255 : b;
            out[x] = (uint32_t)b | (uint32_t)g << 8 | (uint32_t)r << 16 | 0xff000000u;
        }
    }
}

typedef void (*kernel_fn)(const tessera_ycbcr_fixed *, const uint8_t *, const uint8_t *, const uint8_t *, ptrdiff_t,
                          uint8_t *, ptrdiff_t, int, int);

static void convert_baseline(const tessera_ycbcr_fixed *k, const uint8_t *y, const uint8_t *cb, const uint8_t *cr,
                             ptrdiff_t ss, uint8_t *d, ptrdiff_t ds, int w, int h) {
    convert_rows(k, y, cb, cr, ss, d, ds, w, h);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("sse4.1")))
static void convert_sse41(const tessera_ycbcr_fixed *k, const uint8_t *y, const uint8_t *cb, const uint8_t *cr,
                          ptrdiff_t ss, uint8_t *d, ptrdiff_t ds, int w, int h) {
    convert_rows(k, y, cb, cr, ss, d, ds, w, h);
}

__attribute__((target("avx2")))
static void convert_avx2(const tessera_ycbcr_fixed *k, const uint8_t *y, const uint8_t *cb, const uint8_t *cr,
                         ptrdiff_t ss, uint8_t *d, ptrdiff_t ds, int w, int h) {
    convert_rows(k, y, cb, cr, ss, d, ds, w, h);
}

/// AVX2 needs the CPU's flag and the kernel saving the YMM registers (OSXSAVE, XCR0 bits 1-2).
static int has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_AVX2) != 0;
}

static int has_sse41(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1);
}
#endif

static _Atomic(kernel_fn) chosen;
static const char *_Atomic chosen_name;

static kernel_fn choose(void) {
    kernel_fn f = atomic_load_explicit(&chosen, memory_order_acquire);
    if (f) return f;
    const char *name = "baseline";
    f = convert_baseline;
#if defined(__x86_64__) || defined(__i386__)
    if (has_avx2()) { f = convert_avx2; name = "avx2"; }
    else if (has_sse41()) { f = convert_sse41; name = "sse4.1"; }
#endif
    atomic_store_explicit(&chosen_name, name, memory_order_relaxed);
    atomic_store_explicit(&chosen, f, memory_order_release);
    return f;
}

void tessera_ycbcr444_to_bgra(const tessera_ycbcr_fixed *k, const uint8_t *y, const uint8_t *cb, const uint8_t *cr,
                              ptrdiff_t source_stride, uint8_t *destination, ptrdiff_t destination_stride,
                              int width, int height) {
    if (width <= 0 || height <= 0) return;
    choose()(k, y, cb, cr, source_stride, destination, destination_stride, width, height);
}

int tessera_ycbcr444_to_bgra_kernel(const char *kernel, const tessera_ycbcr_fixed *k,
                                    const uint8_t *y, const uint8_t *cb, const uint8_t *cr, ptrdiff_t source_stride,
                                    uint8_t *destination, ptrdiff_t destination_stride, int width, int height) {
    kernel_fn f = 0;
    if (!strcmp(kernel, "baseline")) f = convert_baseline;
#if defined(__x86_64__) || defined(__i386__)
    else if (!strcmp(kernel, "sse4.1") && has_sse41()) f = convert_sse41;
    else if (!strcmp(kernel, "avx2") && has_avx2()) f = convert_avx2;
#endif
    if (!f) return -1;
    if (width > 0 && height > 0) f(k, y, cb, cr, source_stride, destination, destination_stride, width, height);
    return 0;
}

const char *tessera_ycbcr_kernel(void) {
    choose();
    return atomic_load_explicit(&chosen_name, memory_order_relaxed);
}
