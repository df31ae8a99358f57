/*
 * ardkit's native kernels for tfjs' wasm backend: C compiled to wasm32 with SIMD128 by scripts/build-wasm-kernels.ts
 * (Debian's clang-14 and wasm-ld-14), run on the backend's own linear memory (imported), on the buffers tfjs
 * allocated. No libc, no stack, no static data: a kernel reads and writes only the buffers it is given.
 *
 * Each kernel is checked against tfjs' cpu kernel in __tests__/backends/native-kernels.test.ts.
 */
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

/*
 * MaxPoolGrad, NHWC: dx[b, y, x, c] receives dy[b, oy, ox, c] where (y, x) is the window's first maximum (strictly
 * greater, in row-major window order, as tfjs' cpu kernel), padding excluded. dx must be zeroed by the caller.
 * Windows of 2x2 fully inside the input run four channels at a time.
 */
EXPORT(max_pool_grad)
void max_pool_grad(const float *x, const float *dy, float *dx, int32_t batch, int32_t in_h, int32_t in_w,
                   int32_t channels, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                   int32_t filter_h, int32_t filter_w, int32_t pad_top, int32_t pad_left) {
  const int32_t row = in_w * channels;
  for (int32_t b = 0; b < batch; b++) {
    const int32_t x_base = b * in_h * row;
    for (int32_t oy = 0; oy < out_h; oy++) {
      int32_t y0 = oy * stride_h - pad_top;
      int32_t y1 = y0 + filter_h;
      if (y0 < 0) y0 = 0;
      if (y1 > in_h) y1 = in_h;
      for (int32_t ox = 0; ox < out_w; ox++) {
        int32_t x0 = ox * stride_w - pad_left;
        int32_t x1 = x0 + filter_w;
        if (x0 < 0) x0 = 0;
        if (x1 > in_w) x1 = in_w;
        const int32_t d = ((b * out_h + oy) * out_w + ox) * channels;
        int32_t c = 0;
        if (y1 - y0 == 2 && x1 - x0 == 2) {
          const int32_t i0 = x_base + y0 * row + x0 * channels;
          const int32_t i1 = i0 + channels;
          const int32_t i2 = i0 + row;
          const int32_t i3 = i2 + channels;
          for (; c + 4 <= channels; c += 4) {
            const v128_t v0 = wasm_v128_load(x + i0 + c);
            const v128_t v1 = wasm_v128_load(x + i1 + c);
            const v128_t v2 = wasm_v128_load(x + i2 + c);
            const v128_t v3 = wasm_v128_load(x + i3 + c);
            const v128_t g = wasm_v128_load(dy + d + c);
            /* First strict maximum from -inf: a NaN never wins; all-NaN or all -inf windows send nothing. */
            const v128_t m0 = wasm_f32x4_gt(v0, wasm_f32x4_splat(-__builtin_inff()));
            v128_t best = wasm_v128_bitselect(v0, wasm_f32x4_splat(-__builtin_inff()), m0);
            const v128_t m1 = wasm_f32x4_gt(v1, best);
            best = wasm_v128_bitselect(v1, best, m1);
            const v128_t m2 = wasm_f32x4_gt(v2, best);
            best = wasm_v128_bitselect(v2, best, m2);
            const v128_t m3 = wasm_f32x4_gt(v3, best);
            /* The winner is the last window position whose comparison succeeded. */
            const v128_t w3 = m3;
            const v128_t w2 = wasm_v128_andnot(m2, m3);
            const v128_t w1 = wasm_v128_andnot(wasm_v128_andnot(m1, m2), m3);
            const v128_t w0 = wasm_v128_andnot(wasm_v128_andnot(wasm_v128_andnot(m0, m1), m2), m3);
            wasm_v128_store(dx + i0 + c, wasm_f32x4_add(wasm_v128_load(dx + i0 + c), wasm_v128_and(g, w0)));
            wasm_v128_store(dx + i1 + c, wasm_f32x4_add(wasm_v128_load(dx + i1 + c), wasm_v128_and(g, w1)));
            wasm_v128_store(dx + i2 + c, wasm_f32x4_add(wasm_v128_load(dx + i2 + c), wasm_v128_and(g, w2)));
            wasm_v128_store(dx + i3 + c, wasm_f32x4_add(wasm_v128_load(dx + i3 + c), wasm_v128_and(g, w3)));
          }
        }
        for (; c < channels; c++) {
          float best = -__builtin_inff();
          int32_t where = -1;
          for (int32_t y = y0; y < y1; y++) {
            for (int32_t xx = x0; xx < x1; xx++) {
              const int32_t i = x_base + y * row + xx * channels + c;
              if (x[i] > best) {
                best = x[i];
                where = i;
              }
            }
          }
          if (where >= 0) dx[where] += dy[d + c];
        }
      }
    }
  }
}

/* Sign of float32 values: 1, -1, or 0 (for zeros and NaN, as tfjs' wasm and cpu kernels). */
EXPORT(sign_f32)
void sign_f32(const float *x, float *out, int32_t n) {
  int32_t i = 0;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t minus = wasm_f32x4_splat(-1.0f);
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t r = wasm_v128_or(wasm_v128_and(wasm_f32x4_gt(v, zero), one), wasm_v128_and(wasm_f32x4_lt(v, zero), minus));
    wasm_v128_store(out + i, r);
  }
  for (; i < n; i++) out[i] = x[i] > 0.0f ? 1.0f : x[i] < 0.0f ? -1.0f : 0.0f;
}
