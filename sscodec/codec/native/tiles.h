// The arithmetic of sscodec's native inference kernels (conv1d.cc holds the XLA FFI handlers):
// register-tiled conv tiles over packed float32 / bfloat16 weights, a one-channel dot product,
// and a vectorized ELU.
//
// Weights come packed by sscodec/codec/native_conv.py: [ceil(cout / 32), k, cin, 32], one
// 32-channel block's taps contiguous. In bfloat16, 32-bit word l of a row holds channel l (low
// half) and channel 16 + l (high half), so a shift and a mask turn one 64-byte load into two
// float32 vectors.
//
// Register tiling: MR output steps x NB channel blocks (2 * MR * NB accumulators, <= 24 of the
// 32 zmm registers). Few steps take several blocks at once, so that a one-step conv keeps enough
// independent FMA chains and weight streams in flight to run at the memory's speed.

#pragma once

#include <immintrin.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace sscodec_native {

struct Geometry {
  int64_t cin, k, row_step, tap_step;  // row_step = stride * cin, tap_step = dilation * cin
  int64_t block_elems;                 // k * cin * 32: one block's packed weights
  int64_t y_row;                       // output channels (padded), the output's row pitch
};

template <bool BF16>
inline void load_weights(const void* w, int64_t at, __m512& lo, __m512& hi) {
  if constexpr (BF16) {
    const __m512i p = _mm512_loadu_si512(static_cast<const uint16_t*>(w) + at);
    lo = _mm512_castsi512_ps(_mm512_slli_epi32(p, 16));
    hi = _mm512_castsi512_ps(_mm512_and_si512(p, _mm512_set1_epi32(int32_t(0xFFFF0000u))));
  } else {
    lo = _mm512_loadu_ps(static_cast<const float*>(w) + at);
    hi = _mm512_loadu_ps(static_cast<const float*>(w) + at + 16);
  }
}

// MR output steps starting at x (the first step's first tap) of NB blocks starting at w / bias / y.
// HALF: one block of which only the first 16 channels are wanted (cout = 32 n + 1..16): half
// the FMAs, and the other 16 outputs are left unwritten (the caller drops them).
template <int MR, int NB, bool BF16, bool HALF = false>
void tile(const Geometry& g, const float* x, const void* w, const float* bias, float* y) {
  constexpr int V = HALF ? 1 : 2;
  __m512 acc[MR][NB][2];
  for (int n = 0; n < NB; ++n) {
    const __m512 b0 = _mm512_loadu_ps(bias + 32 * n), b1 = _mm512_loadu_ps(bias + 32 * n + 16);
    for (int r = 0; r < MR; ++r) acc[r][n][0] = b0, acc[r][n][1] = b1;
  }
  for (int64_t j = 0; j < g.k; ++j) {
    const float* xj = x + j * g.tap_step;
    const int64_t wj = j * g.cin * 32;
    for (int64_t i = 0; i < g.cin; ++i) {
      __m512 lo[NB], hi[NB];
      for (int n = 0; n < NB; ++n)
        load_weights<BF16>(w, n * g.block_elems + wj + i * 32, lo[n], hi[n]);
      for (int r = 0; r < MR; ++r) {
        const __m512 xv = _mm512_set1_ps(xj[r * g.row_step + i]);
        for (int n = 0; n < NB; ++n) {
          acc[r][n][0] = _mm512_fmadd_ps(xv, lo[n], acc[r][n][0]);
          if constexpr (V == 2) acc[r][n][1] = _mm512_fmadd_ps(xv, hi[n], acc[r][n][1]);
        }
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int n = 0; n < NB; ++n)
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(y + r * g.y_row + 32 * n + 16 * v, acc[r][n][v]);
}

using TileFn = void (*)(const Geometry&, const float*, const void*, const float*, float*);

template <int NB, bool BF16, bool HALF, int... MRs>
constexpr TileFn pick(int mr, std::integer_sequence<int, MRs...>) {
  TileFn table[] = {nullptr, &tile<MRs + 1, NB, BF16, HALF>...};
  return table[mr];
}

template <int NB, bool BF16, int MAX_MR, bool HALF = false>
void blocks(const Geometry& g, const float* x, const void* w, const float* bias, float* y,
            int64_t t_out) {
  for (int64_t t = 0; t < t_out; t += MAX_MR) {
    const int mr = int(t_out - t < MAX_MR ? t_out - t : MAX_MR);
    pick<NB, BF16, HALF>(mr, std::make_integer_sequence<int, MAX_MR>{})(
        g, x + t * g.row_step, w, bias, y + t * g.y_row);
  }
}

template <bool BF16>
void conv(const Geometry& g, const float* x, const void* w, const float* bias, float* y,
          int64_t t_out, int64_t n_blocks, bool half_last) {
  const int64_t elem = BF16 ? 2 : 4;
  const auto* wb = static_cast<const char*>(w);
  if (half_last) {  // the last block wants 16 channels or fewer: its own, half-width pass
    --n_blocks;
    const int64_t at = 32 * n_blocks;
    blocks<1, BF16, 12, true>(g, x, wb + n_blocks * g.block_elems * elem, bias + at, y + at, t_out);
  }
  int64_t blk = 0;
  auto run = [&](auto nb_tag, auto mr_tag) {
    constexpr int NB = decltype(nb_tag)::value, MR = decltype(mr_tag)::value;
    for (; blk + NB <= n_blocks; blk += NB)
      blocks<NB, BF16, MR>(g, x, wb + blk * g.block_elems * elem, bias + 32 * blk, y + 32 * blk,
                           t_out);
  };
  using I = std::integral_constant<int, 1>;
  if (t_out == 1) {
    run(std::integral_constant<int, 8>{}, I{});
    run(std::integral_constant<int, 4>{}, I{});
    run(std::integral_constant<int, 2>{}, I{});
    run(std::integral_constant<int, 1>{}, I{});
  } else if (t_out == 2) {
    run(std::integral_constant<int, 4>{}, std::integral_constant<int, 2>{});
    run(std::integral_constant<int, 1>{}, std::integral_constant<int, 2>{});
  } else if (t_out <= 6) {
    run(std::integral_constant<int, 2>{}, std::integral_constant<int, 6>{});
    run(std::integral_constant<int, 1>{}, std::integral_constant<int, 6>{});
  } else {
    run(std::integral_constant<int, 1>{}, std::integral_constant<int, 12>{});
  }
}

// One output channel (a decoder's last conv): a dot product over the window per step, vectorized
// over the input channels, instead of a 32-channel tile that would waste 31 of every 32 FMAs.
inline void conv_one_channel(const Geometry& g, const float* in, const void* w, bool bf16, float bias,
                      float* y, int64_t t_out) {
  static thread_local std::vector<float> taps;
  taps.resize(g.k * g.cin);
  for (int64_t r = 0; r < g.k * g.cin; ++r)  // channel 0 of each packed row
    taps[r] = bf16 ? [&] {
      const uint32_t bits = uint32_t(static_cast<const uint16_t*>(w)[r * 32]) << 16;
      float v;
      __builtin_memcpy(&v, &bits, 4);
      return v;
    }() : static_cast<const float*>(w)[r * 32];
  auto steps = [&](auto rows_tag, int64_t t0) {  // ROWS steps at once: independent FMA chains
    constexpr int ROWS = decltype(rows_tag)::value;
    __m512 acc[ROWS];
    for (int r = 0; r < ROWS; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t j = 0; j < g.k; ++j) {
      const float* tap = taps.data() + j * g.cin;
      const float* row = in + t0 * g.row_step + j * g.tap_step;
      for (int64_t i = 0; i < g.cin; i += 16) {
        const __mmask16 m = g.cin - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (g.cin - i)) - 1);
        const __m512 wv = _mm512_maskz_loadu_ps(m, tap + i);
        for (int r = 0; r < ROWS; ++r)
          acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, row + r * g.row_step + i), wv, acc[r]);
      }
    }
    for (int r = 0; r < ROWS; ++r) y[(t0 + r) * g.y_row] = _mm512_reduce_add_ps(acc[r]) + bias;
  };
  int64_t t = 0;
  for (; t + 8 <= t_out; t += 8) steps(std::integral_constant<int, 8>{}, t);
  for (; t < t_out; ++t) steps(std::integral_constant<int, 1>{}, t);
}

// ELU, max(x, 0) + expm1(min(x, 0)) with expm1 as exp - 1 (absolute error ~1e-7): exp by
// range reduction to [-ln2/2, ln2/2], a degree-6 polynomial and vscalefps.
inline __m512 elu(__m512 x) {
  const __m512 neg = _mm512_max_ps(_mm512_min_ps(x, _mm512_setzero_ps()), _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(neg, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), neg);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512 em1 = _mm512_sub_ps(_mm512_scalef_ps(p, n), _mm512_set1_ps(1.0f));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), em1, x);
}

inline void copy_rows(const float* src, float* dst, int64_t n, bool activate) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(src + i);
    _mm512_storeu_ps(dst + i, activate ? elu(v) : v);
  }
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, src + i);
    _mm512_mask_storeu_ps(dst + i, m, activate ? elu(v) : v);
  }
}

}  // namespace sscodec_native
