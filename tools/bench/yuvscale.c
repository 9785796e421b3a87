// libyuv against swscale for one CPU-renderer tile: a 320x180 yuv420p picture (BT.601 limited)
// scaled to 312x175 and converted to BGRA. Issue 16, item 1: is libyuv worth wiring in?
//
//   cc -O3 -o out/bench/yuvscale tools/bench/yuvscale.c $(pkg-config --cflags --libs libswscale libavutil) -lyuv -lm
//   out/bench/yuvscale [iterations]
//
// Paths timed (each on the same picture, medians of 5 runs of N tiles):
//   sws444+pass  the CPU renderer today: swscale bilinear + SWS_ACCURATE_RND to yuv444p at the tile's
//                size, then a 12.20 fixed-point colour pass (here plain C, -O2 auto-vectorised; the
//                renderer's is SIMD8<Int32> Swift)
//   sws-fused    swscale yuv420p -> bgra in one call, bilinear (its fast path, chroma at half width)
//   yuv-scale+cv libyuv I420Scale (bilinear) to 312x175, then I420ToARGBMatrix (BT.601)
//   yuv-cv+scale libyuv I420ToARGBMatrix at 320x180, then ARGBScale (bilinear) to 312x175
// Accuracy: each path's BGRA against the BT.601 equations in floating point applied to the same
// bilinear-scaled Y'CbCr (swscale's 4:4:4 planes, the renderer's reference), max and mean |error|
// in levels over all channels, and on flat colour bars (what ColourTableTests checks, within 2).
#include <libswscale/swscale.h>
#include <libavutil/pixfmt.h>
#include <libyuv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SW = 320, SH = 180, DW = 312, DH = 175 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint8_t sy[SW * SH], su[SW / 2 * SH / 2], sv[SW / 2 * SH / 2];
static uint8_t y444[DW * DH + 64], u444[DW * DH + 64], v444[DW * DH + 64];
static uint8_t out[5][DW * DH * 4 + 64];
static uint8_t tmp420y[DW * DH], tmp420u[(DW + 1) / 2 * ((DH + 1) / 2)], tmp420v[(DW + 1) / 2 * ((DH + 1) / 2)];
static uint8_t big[SW * SH * 4];

// BT.601 limited, 12.20 fixed point with the rounding folded in (as YCbCr.swift does).
#define FIX(x) ((int32_t)lrint((x) * (1 << 20)))
static void colour_pass(uint8_t *dst) {
    const int32_t ky = FIX(255.0 / 219), krv = FIX(255.0 / 224 * 1.402), kgu = FIX(255.0 / 224 * 1.772 * 0.114 / 0.587),
                  kgv = FIX(255.0 / 224 * 1.402 * 0.299 / 0.587), kbu = FIX(255.0 / 224 * 1.772);
    const int32_t half = 1 << 19;
    for (int i = 0; i < DW * DH; i++) {
        int32_t y = (y444[i] - 16) * ky + half, u = u444[i] - 128, v = v444[i] - 128;
        int32_t r = (y + krv * v) >> 20, g = (y - kgu * u - kgv * v) >> 20, b = (y + kbu * u) >> 20;
        dst[i * 4] = b < 0 ? 0 : b > 255 ? 255 : b;
        dst[i * 4 + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
        dst[i * 4 + 2] = r < 0 ? 0 : r > 255 ? 255 : r;
        dst[i * 4 + 3] = 255;
    }
}

static struct SwsContext *to444, *fused;

static void path_sws444(void) {
    const uint8_t *src[3] = {sy, su, sv};
    int ss[3] = {SW, SW / 2, SW / 2};
    uint8_t *d[3] = {y444, u444, v444};
    int ds[3] = {DW, DW, DW};
    sws_scale(to444, src, ss, 0, SH, d, ds);
    colour_pass(out[0]);
}
static void path_fused(void) {
    const uint8_t *src[3] = {sy, su, sv};
    int ss[3] = {SW, SW / 2, SW / 2};
    uint8_t *d[1] = {out[1]};
    int ds[1] = {DW * 4};
    sws_scale(fused, src, ss, 0, SH, d, ds);
}
static void path_yuv_scale_cv(void) {
    int cw = (DW + 1) / 2, ch = (DH + 1) / 2;
    I420Scale(sy, SW, su, SW / 2, sv, SW / 2, SW, SH, tmp420y, DW, tmp420u, cw, tmp420v, cw, DW, DH, kFilterBilinear);
    (void)ch;
    I420ToARGBMatrix(tmp420y, DW, tmp420u, cw, tmp420v, cw, out[2], DW * 4, &kYuvI601Constants, DW, DH);
}
static void path_yuv_cv_scale(void) {
    I420ToARGBMatrix(sy, SW, su, SW / 2, sv, SW / 2, big, SW * 4, &kYuvI601Constants, SW, SH);
    ARGBScale(big, SW * 4, SW, SH, out[3], DW * 4, DW, DH, kFilterBilinear);
}

// The renderer's shape with libyuv as the scaler: three planes scaled to 4:4:4 at the tile's size
// (ScalePlane, bilinear), then the same fixed-point colour pass: colour exactly as today.
static void path_yuv_planes_pass(void) {
    ScalePlane(sy, SW, SW, SH, y444, DW, DW, DH, kFilterBilinear);
    ScalePlane(su, SW / 2, SW / 2, SH / 2, u444, DW, DW, DH, kFilterBilinear);
    ScalePlane(sv, SW / 2, SW / 2, SH / 2, v444, DW, DW, DH, kFilterBilinear);
    colour_pass(out[4]);
}
static void path_yuv_planes_only(void) {
    ScalePlane(sy, SW, SW, SH, y444, DW, DW, DH, kFilterBilinear);
    ScalePlane(su, SW / 2, SW / 2, SH / 2, u444, DW, DW, DH, kFilterBilinear);
    ScalePlane(sv, SW / 2, SW / 2, SH / 2, v444, DW, DW, DH, kFilterBilinear);
}
static void path_sws444_only(void) {
    const uint8_t *src[3] = {sy, su, sv};
    int ss[3] = {SW, SW / 2, SW / 2};
    uint8_t *d[3] = {y444, u444, v444};
    int ds[3] = {DW, DW, DW};
    sws_scale(to444, src, ss, 0, SH, d, ds);
}
static void path_pass_only(void) { colour_pass(out[0]); }

typedef void (*path_fn)(void);
static double time_path(path_fn f, int n) {
    double best[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) f();
        best[r] = (now() - t0) / n * 1e6;
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (best[j] < best[i]) { double t = best[i]; best[i] = best[j]; best[j] = t; }
    return best[2];
}

// The reference: the equations in floating point on the 4:4:4 bilinear planes.
static void reference(double *ref) {
    path_sws444();
    for (int i = 0; i < DW * DH; i++) {
        double y = (y444[i] - 16) * 255.0 / 219, u = (u444[i] - 128) * 255.0 / 224, v = (v444[i] - 128) * 255.0 / 224;
        double r = y + 1.402 * v, g = y - 1.772 * 0.114 / 0.587 * u - 1.402 * 0.299 / 0.587 * v, b = y + 1.772 * u;
        ref[i * 3] = fmin(255, fmax(0, b)); ref[i * 3 + 1] = fmin(255, fmax(0, g)); ref[i * 3 + 2] = fmin(255, fmax(0, r));
    }
}

// Colour bars: only each bar's centre counts (as in ColourTableTests): scalers place chroma and
// treat edges differently, which is no colour error.
static int bars_only;
static void errors(const uint8_t *bgra, const double *ref, double *maxe, double *meane) {
    double m = 0, s = 0;
    int n = 0;
    for (int yy = 4; yy < DH - 4; yy++)
        for (int x = 4; x < DW - 4; x++)
            for (int c = 0; c < 3; c++) {
                int centre = (x * 8 % DW) * 8 / DW;  // 0..7 across each bar
                if (bars_only && (centre < 2 || centre > 5)) continue;
                int i = yy * DW + x;
                double e = fabs(bgra[i * 4 + c] - ref[i * 3 + c]);
                m = fmax(m, e); s += e; n++;
            }
    *maxe = m; *meane = s / n;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int flags = SWS_BILINEAR | SWS_ACCURATE_RND;
    to444 = sws_getContext(SW, SH, AV_PIX_FMT_YUV420P, DW, DH, AV_PIX_FMT_YUV444P, flags, NULL, NULL, NULL);
    fused = sws_getContext(SW, SH, AV_PIX_FMT_YUV420P, DW, DH, AV_PIX_FMT_BGRA, SWS_BILINEAR, NULL, NULL, NULL);
    static double ref[DW * DH * 3];
    const char *names[5] = {"swscale 4:4:4 + fixed-point pass (renderer today)", "swscale fused yuv420p -> bgra",
                            "libyuv I420Scale + I420ToARGBMatrix", "libyuv I420ToARGBMatrix + ARGBScale",
                            "libyuv ScalePlane x3 to 4:4:4 + the same fixed-point pass"};
    path_fn fns[5] = {path_sws444, path_fused, path_yuv_scale_cv, path_yuv_cv_scale, path_yuv_planes_pass};
    for (int picture = 0; picture < 2; picture++) {
        // 0: a moving-scene-like picture (gradients and detail); 1: eight flat colour bars (the colour table's case).
        static const uint8_t bars[8][3] = {{235, 128, 128}, {210, 16, 146}, {170, 166, 16}, {145, 54, 34},
                                           {106, 202, 222}, {81, 90, 240}, {41, 240, 110}, {16, 128, 128}};
        for (int yy = 0; yy < SH; yy++)
            for (int x = 0; x < SW; x++)
                sy[yy * SW + x] = picture ? bars[x * 8 / SW][0] : (uint8_t)(16 + (x * 7 + yy * 3 + ((x * yy) % 37)) % 220);
        for (int yy = 0; yy < SH / 2; yy++)
            for (int x = 0; x < SW / 2; x++) {
                su[yy * SW / 2 + x] = picture ? bars[x * 2 * 8 / SW][1] : (uint8_t)(16 + (x * 5 + yy * 11) % 225);
                sv[yy * SW / 2 + x] = picture ? bars[x * 2 * 8 / SW][2] : (uint8_t)(16 + (x * 13 + yy * 2) % 225);
            }
        reference(ref);
        bars_only = picture;
        printf("%s picture, 320x180 yuv420p BT.601 limited -> 312x175 BGRA, %d tiles per run, median of 5 runs\n",
               picture ? "colour-bar" : "detailed", n);
        printf("| path | µs per tile | max |error| levels | mean |error| |\n|---|---:|---:|---:|\n");
        for (int p = 0; p < 5; p++) {
            double us = time_path(fns[p], n), me, ae;
            fns[p]();
            errors(out[p], ref, &me, &ae);
            printf("| %s | %.1f | %.0f | %.2f |\n", names[p], us, me, ae);
        }
        printf("| (of the first: swscale to 4:4:4 alone) | %.1f | | |\n| (of the first: the colour pass alone, C -O3) | %.1f | | |\n"
               "| (of the last: libyuv ScalePlane x3 to 4:4:4 alone) | %.1f | | |\n",
               time_path(path_sws444_only, n), time_path(path_pass_only, n), time_path(path_yuv_planes_only, n));
        printf("\n");
    }
    // Conversion alone, 1:1 (no scaling; libyuv and swscale's fused path give each chroma sample to
    // two pixels, so the reference uses it too): every Y' 16..235 × Cb, Cr 16..240 in steps of 8.
    {
        static uint8_t cy[256 * 256], cu[128 * 128], cv[128 * 128], o1[256 * 256 * 4], o2[256 * 256 * 4];
        double m1 = 0, m2 = 0, s1 = 0, s2 = 0; long n = 0;
        struct SwsContext *one = sws_getContext(256, 256, AV_PIX_FMT_YUV420P, 256, 256, AV_PIX_FMT_BGRA, SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
        for (int yv = 16; yv <= 235; yv += 8) {
            for (int i = 0; i < 256 * 256; i++) cy[i] = yv;
            for (int by = 0; by < 128; by++)
                for (int bx = 0; bx < 128; bx++) { cu[by * 128 + bx] = 16 + (bx % 29) * 8; cv[by * 128 + bx] = 16 + (by % 29) * 8; }
            I420ToARGBMatrix(cy, 256, cu, 128, cv, 128, o1, 1024, &kYuvI601Constants, 256, 256);
            const uint8_t *src[3] = {cy, cu, cv}; int ss[3] = {256, 128, 128}; uint8_t *d[1] = {o2}; int ds[1] = {1024};
            sws_scale(one, src, ss, 0, 256, d, ds);
            for (int py = 0; py < 256; py++)
                for (int px = 0; px < 256; px += 2) {
                    int u = cu[py / 2 * 128 + px / 2], v = cv[py / 2 * 128 + px / 2];
                    if (u > 240 || v > 240) continue;
                    double Y = (yv - 16) * 255.0 / 219, U = (u - 128) * 255.0 / 224, V = (v - 128) * 255.0 / 224;
                    double rgb[3] = {Y + 1.772 * U, Y - 1.772 * 0.114 / 0.587 * U - 1.402 * 0.299 / 0.587 * V, Y + 1.402 * V};
                    for (int c = 0; c < 3; c++) {
                        double want = fmin(255, fmax(0, rgb[c]));
                        double e1 = fabs(o1[(py * 256 + px) * 4 + c] - want), e2 = fabs(o2[(py * 256 + px) * 4 + c] - want);
                        m1 = fmax(m1, e1); m2 = fmax(m2, e2); s1 += e1; s2 += e2; n++;
                    }
                }
        }
        sws_freeContext(one);
        printf("conversion alone, 1:1, Y' 16..235 x Cb, Cr 16..240 (step 8), BT.601 limited, against the equations in floating point:\n");
        printf("| path | max |error| levels | mean |error| |\n|---|---:|---:|\n");
        printf("| libyuv I420ToARGBMatrix | %.1f | %.2f |\n| swscale yuv420p -> bgra (SWS_ACCURATE_RND, full chroma interpolation) | %.1f | %.2f |\n\n", m1, s1 / n, m2, s2 / n);
    }
    sws_freeContext(to444);
    sws_freeContext(fused);
    return 0;
}
