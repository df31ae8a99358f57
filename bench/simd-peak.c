/*
 * The f32x4 multiply-and-add throughput of wasm SIMD128 on this machine (bench/ceiling.ts builds it with Debian's
 * clang-14 at run time; nothing ships it). Six independent multiply chains and six independent add chains, so the
 * loop is bound by the vector units' throughput, not by latency: FLOPs = iterations x 12 x 4. SIMD128 has no fused
 * multiply-add (relaxed SIMD's is not in Node 20 without a flag, and clang-14 emits only its withdrawn prototype
 * encoding), so a matrix product's multiply-add costs two of these operations.
 */
#include <stdint.h>
#include <wasm_simd128.h>
__attribute__((export_name("peak"))) float peak(int32_t iters) {
  v128_t m = wasm_f32x4_splat(0.9999999f), c = wasm_f32x4_splat(1e-7f);
  v128_t a0 = wasm_f32x4_splat(1.0f), a1 = wasm_f32x4_splat(1.1f), a2 = wasm_f32x4_splat(1.2f), a3 = wasm_f32x4_splat(1.3f), a4 = wasm_f32x4_splat(1.4f), a5 = wasm_f32x4_splat(1.5f);
  v128_t b0 = wasm_f32x4_splat(0.0f), b1 = wasm_f32x4_splat(0.1f), b2 = wasm_f32x4_splat(0.2f), b3 = wasm_f32x4_splat(0.3f), b4 = wasm_f32x4_splat(0.4f), b5 = wasm_f32x4_splat(0.5f);
  for (int32_t i = 0; i < iters; i++) {
    a0 = wasm_f32x4_mul(a0, m); a1 = wasm_f32x4_mul(a1, m); a2 = wasm_f32x4_mul(a2, m);
    a3 = wasm_f32x4_mul(a3, m); a4 = wasm_f32x4_mul(a4, m); a5 = wasm_f32x4_mul(a5, m);
    b0 = wasm_f32x4_add(b0, c); b1 = wasm_f32x4_add(b1, c); b2 = wasm_f32x4_add(b2, c);
    b3 = wasm_f32x4_add(b3, c); b4 = wasm_f32x4_add(b4, c); b5 = wasm_f32x4_add(b5, c);
  }
  v128_t s = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)), wasm_f32x4_add(a4, a5));
  s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(b0, b1), wasm_f32x4_add(b2, b3)), wasm_f32x4_add(b4, b5)));
  return wasm_f32x4_extract_lane(s, 0);
}
