// sscodec's one-core inference conv: a VALID 1-D conv with float32 activations and float32 or
// bfloat16 weights, float32 accumulation, written for the few-output-step convs of one-frame
// streaming, where XLA:CPU's convs read the weights at a third of the memory's speed.
//
//   y[b, t, o] = bias[o] + sum_{j < k} sum_{i < cin} x[b, t * stride + j * dilation, i] * w[j, i, o]
//
// Weights come packed by sscodec/codec/native_conv.py: [cout / 32, k, cin, 32], one 32-channel
// block's taps contiguous. In bfloat16, 32-bit word l of a row holds channel l (low half) and
// channel 16 + l (high half), so a shift and a mask turn one 64-byte load into two float32
// vectors. The output has cout rounded up to 32 channels; those past cout are not written.
//
// Register tiling: MR output steps x NB channel blocks (2 * MR * NB accumulators, <= 24 of the
// 32 zmm registers). Few steps take several blocks at once, so that a one-step conv keeps enough
// independent FMA chains and weight streams in flight to run at the memory's speed.

#include <immintrin.h>

#include <cstdint>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

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

ffi::Error Conv1d(ffi::Buffer<ffi::F32> x, ffi::AnyBuffer w, ffi::Buffer<ffi::F32> bias,
                  ffi::ResultBuffer<ffi::F32> y, int64_t stride, int64_t dilation, int64_t cout) {
  const auto xd = x.dimensions(), wd = w.dimensions(), yd = y->dimensions();
  if (xd.size() != 3 || wd.size() != 4 || yd.size() != 3 || wd[3] != 32)
    return ffi::Error::InvalidArgument("sscodec_conv1d: x [B, T, Cin], w [Cout/32, K, Cin, 32]");
  const bool bf16 = w.element_type() == ffi::BF16;
  if (!bf16 && w.element_type() != ffi::F32)
    return ffi::Error::InvalidArgument("sscodec_conv1d: weights must be float32 or bfloat16");
  const int64_t batch = xd[0], t_in = xd[1], cin = xd[2], n_blocks = wd[0], k = wd[1];
  const int64_t t_out = yd[1];
  if (wd[2] != cin || yd[0] != batch || yd[2] != 32 * n_blocks ||
      bias.dimensions()[0] != 32 * n_blocks || t_out < 1 ||
      (t_out - 1) * stride + (k - 1) * dilation + 1 > t_in || cout > 32 * n_blocks ||
      cout <= 32 * (n_blocks - 1))
    return ffi::Error::InvalidArgument("sscodec_conv1d: shapes do not agree");
  const Geometry g{cin, k, stride * cin, dilation * cin, k * cin * 32, 32 * n_blocks};
  const bool half_last = cout - 32 * (n_blocks - 1) <= 16;
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x.typed_data() + b * t_in * cin;
    float* yb = y->typed_data() + b * t_out * g.y_row;
    if (bf16)
      conv<true>(g, xb, w.untyped_data(), bias.typed_data(), yb, t_out, n_blocks, half_last);
    else
      conv<false>(g, xb, w.untyped_data(), bias.typed_data(), yb, t_out, n_blocks, half_last);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SscodecConv1d, Conv1d,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("stride")
                                  .Attr<int64_t>("dilation")
                                  .Attr<int64_t>("cout"));
