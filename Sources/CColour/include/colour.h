#ifndef TESSERA_COLOUR_H
#define TESSERA_COLOUR_H
#include <stddef.h>
#include <stdint.h>

/// One (matrix, range)'s Y'CbCr -> R'G'B' equations in 12.20 fixed point (TesseraRender's
/// YCbCrFixed): per code value of Y', per sixteenth of a code value of Cb and Cr, and the
/// constant terms with the final half level folded in.
typedef struct {
    int32_t y, rCr, gCb, gCr, bCb;
    int32_t r0, g0, b0;
} tessera_ycbcr_fixed;

/// Converts `height` rows of `width` pixels of planar Y'CbCr 4:4:4 (three planes sharing
/// `source_stride`) into opaque BGRA rows `destination_stride` bytes apart. The same integer
/// arithmetic on every CPU; the widest vector unit the CPU has (AVX2, SSE4.1, else SSE2 or
/// the architecture's baseline) is chosen once, at the first call.
void tessera_ycbcr444_to_bgra(const tessera_ycbcr_fixed *k,
                              const uint8_t *y, const uint8_t *cb, const uint8_t *cr, ptrdiff_t source_stride,
                              uint8_t *destination, ptrdiff_t destination_stride, int width, int height);

/// The same conversion through one named kernel ("avx2", "sse4.1", "baseline"), for tests that
/// compare them; returns 0, or -1 when this CPU or build has no such kernel.
int tessera_ycbcr444_to_bgra_kernel(const char *kernel, const tessera_ycbcr_fixed *k,
                                    const uint8_t *y, const uint8_t *cb, const uint8_t *cr, ptrdiff_t source_stride,
                                    uint8_t *destination, ptrdiff_t destination_stride, int width, int height);

/// Which kernel the calls use: "avx2", "sse4.1" or "baseline" (for logs and benchmarks).
const char *tessera_ycbcr_kernel(void);

#endif
