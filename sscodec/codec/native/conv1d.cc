// sscodec's one-core inference conv: a VALID 1-D conv with float32 activations and float32 or
// bfloat16 weights, float32 accumulation, written for the few-output-step convs of one-frame
// streaming, where XLA:CPU's convs read the weights at a third of the memory's speed. One call
// is a whole causal conv of a streaming step: its input activation (ELU), its stream context
// and the residual add are fused in, which saves XLA three or four small ops per conv.
//
//   in = [context | act(x)][skip:]          (new_context = the last P rows of [context | act(x)])
//   y[b, t, o] = bias[o] + sum_{j < k} sum_{i < cin} in[b, t * stride + j * dilation, i] * w[j, i, o]
//                (+ residual[b, t, o])
//
// Weights come packed by sscodec/codec/native_conv.py: [ceil(cout / 32), k, cin, 32], one
// 32-channel block's taps contiguous. In bfloat16, 32-bit word l of a row holds channel l (low
// half) and channel 16 + l (high half), so a shift and a mask turn one 64-byte load into two
// float32 vectors.
//
// Register tiling: MR output steps x NB channel blocks (2 * MR * NB accumulators, <= 24 of the
// 32 zmm registers). Few steps take several blocks at once, so that a one-step conv keeps enough
// independent FMA chains and weight streams in flight to run at the memory's speed.

#include <immintrin.h>

#include <cstdint>
#include <vector>

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

// One output channel (a decoder's last conv): a dot product over the window per step, vectorized
// over the input channels, instead of a 32-channel tile that would waste 31 of every 32 FMAs.
void conv_one_channel(const Geometry& g, const float* in, const void* w, bool bf16, float bias,
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

void copy_rows(const float* src, float* dst, int64_t n, bool activate) {
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

thread_local std::vector<float> input_scratch, output_scratch, hidden_scratch;

// y [t_out, cout] (compact rows) = conv(in) + bias (+ residual [t_out, cout]): the tiles write
// 32-channel blocks, straight into y when cout is a multiple of 32, else through a scratch.
void conv_into(const Geometry& g, const float* in, const void* w, bool bf16, const float* bias,
               int64_t t_out, int64_t n_blocks, int64_t cout, const float* residual, float* y) {
  const int64_t width = 32 * n_blocks;
  const bool direct = cout == width;
  if (!direct) output_scratch.resize(t_out * width);
  float* out = direct ? y : output_scratch.data();
  const bool half_last = cout - 32 * (n_blocks - 1) <= 16;
  if (cout == 1)
    conv_one_channel(g, in, w, bf16, bias[0], out, t_out);
  else if (bf16)
    conv<true>(g, in, w, bias, out, t_out, n_blocks, half_last);
  else
    conv<false>(g, in, w, bias, out, t_out, n_blocks, half_last);
  for (int64_t t = 0; t < t_out && (residual || !direct); ++t) {
    float* row = y + t * cout;
    const float* from = out + t * width;
    int64_t o = 0;
    for (; o + 16 <= cout; o += 16) {
      __m512 v = _mm512_loadu_ps(from + o);
      if (residual) v = _mm512_add_ps(v, _mm512_loadu_ps(residual + t * cout + o));
      _mm512_storeu_ps(row + o, v);
    }
    for (; o < cout; ++o) row[o] = from[o] + (residual ? residual[t * cout + o] : 0.0f);
  }
}

// [context | act(x)] of one batch item in input_scratch; its last P rows to new_context.
const float* stage_input(const float* context, const float* x, float* new_context, int64_t ctx,
                         int64_t t_new, int64_t cin, bool activate) {
  input_scratch.resize((ctx + t_new) * cin);
  float* buf = input_scratch.data();
  copy_rows(context, buf, ctx * cin, false);
  copy_rows(x, buf + ctx * cin, t_new * cin, activate);
  copy_rows(buf + t_new * cin, new_context, ctx * cin, false);
  return buf;
}

bool weights_ok(const ffi::AnyBuffer& w) {
  return w.dimensions().size() == 4 && w.dimensions()[3] == 32 &&
         (w.element_type() == ffi::BF16 || w.element_type() == ffi::F32);
}

// y = conv(act(x) after context, skipping `skip` leading rows) + bias [+ residual];
// new_context = the last P rows of [context | act(x)]. Every conv of a streaming step, with its
// input activation, stream context and residual add fused (nn.conv.conv_implementation).
ffi::Error Conv1d(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> context, ffi::AnyBuffer w,
                  ffi::Buffer<ffi::F32> bias, ffi::Buffer<ffi::F32> residual,
                  ffi::ResultBuffer<ffi::F32> y, ffi::ResultBuffer<ffi::F32> new_context,
                  int64_t stride, int64_t dilation, int64_t skip, int64_t activation,
                  int64_t has_residual) {
  const auto xd = x.dimensions(), cd = context.dimensions(), wd = w.dimensions();
  const auto yd = y->dimensions();
  if (xd.size() != 3 || cd.size() != 3 || yd.size() != 3 || !weights_ok(w))
    return ffi::Error::InvalidArgument(
        "sscodec_conv1d: x [B, T, Cin], context [B, P, Cin], w [Cout/32, K, Cin, 32] float32 "
        "or bfloat16");
  const bool bf16 = w.element_type() == ffi::BF16;
  const int64_t batch = xd[0], t_new = xd[1], cin = xd[2], n_blocks = wd[0], k = wd[1];
  const int64_t ctx = cd[1], t_in = ctx + t_new - skip, t_out = yd[1], cout = yd[2];
  if (wd[2] != cin || cd[0] != batch || cd[2] != cin || yd[0] != batch ||
      bias.dimensions()[0] != 32 * n_blocks || t_out < 1 || skip < 0 ||
      (t_out - 1) * stride + (k - 1) * dilation + 1 > t_in || cout > 32 * n_blocks ||
      cout <= 32 * (n_blocks - 1) || new_context->dimensions()[1] != ctx ||
      (has_residual && residual.element_count() != size_t(batch * t_out * cout)))
    return ffi::Error::InvalidArgument("sscodec_conv1d: shapes do not agree");
  const Geometry g{cin, k, stride * cin, dilation * cin, k * cin * 32, 32 * n_blocks};
  for (int64_t b = 0; b < batch; ++b) {
    const float* in = x.typed_data() + b * t_new * cin;
    if (ctx > 0 || activation)
      in = stage_input(context.typed_data() + b * ctx * cin, in,
                       new_context->typed_data() + b * ctx * cin, ctx, t_new, cin, activation);
    conv_into(g, in + skip * cin, w.untyped_data(), bf16, bias.typed_data(), t_out, n_blocks,
              cout, has_residual ? residual.typed_data() + b * t_out * cout : nullptr,
              y->typed_data() + b * t_out * cout);
  }
  return ffi::Error::Success();
}

// A SEANet residual unit in one call: y = x + pointwise(ELU(dilated([context | ELU(x)][skip:]))),
// new_context as in Conv1d (the dilated conv's). Saves a call and a round trip of the hidden
// activations per unit.
ffi::Error ResidualUnit(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> context, ffi::AnyBuffer w1,
                        ffi::Buffer<ffi::F32> b1, ffi::AnyBuffer w2, ffi::Buffer<ffi::F32> b2,
                        ffi::ResultBuffer<ffi::F32> y, ffi::ResultBuffer<ffi::F32> new_context,
                        int64_t dilation, int64_t skip, int64_t hidden) {
  const auto xd = x.dimensions(), cd = context.dimensions();
  if (xd.size() != 3 || cd.size() != 3 || !weights_ok(w1) || !weights_ok(w2))
    return ffi::Error::InvalidArgument("sscodec_residual_unit: bad ranks or weight types");
  const auto d1 = w1.dimensions(), d2 = w2.dimensions();
  const int64_t batch = xd[0], t = xd[1], c = xd[2], ctx = cd[1], k = d1[1];
  if (d1[2] != c || d2[1] != 1 || d2[2] != hidden || hidden > 32 * d1[0] ||
      hidden <= 32 * (d1[0] - 1) || c > 32 * d2[0] || c <= 32 * (d2[0] - 1) || cd[0] != batch || cd[2] != c ||
      (t - 1) + (k - 1) * dilation + 1 > ctx + t - skip || skip < 0)
    return ffi::Error::InvalidArgument("sscodec_residual_unit: shapes do not agree");
  const Geometry g1{c, k, c, dilation * c, k * c * 32, 32 * d1[0]};
  const Geometry g2{hidden, 1, hidden, hidden, hidden * 32, 32 * d2[0]};
  hidden_scratch.resize(t * hidden);
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x.typed_data() + b * t * c;
    const float* in = stage_input(context.typed_data() + b * ctx * c, xb,
                                  new_context->typed_data() + b * ctx * c, ctx, t, c, true);
    float* h = hidden_scratch.data();
    conv_into(g1, in + skip * c, w1.untyped_data(), w1.element_type() == ffi::BF16,
              b1.typed_data(), t, d1[0], hidden, nullptr, h);
    copy_rows(h, h, t * hidden, true);  // ELU in place
    conv_into(g2, h, w2.untyped_data(), w2.element_type() == ffi::BF16, b2.typed_data(), t,
              d2[0], c, xb, y->typed_data() + b * t * c);
  }
  return ffi::Error::Success();
}

// The RVQ's search, every stage in one call: codes[f, s] = argmin_n ||r_s - c_sn||^2 where
// r_0 = x[f] and r_{s+1} = r_s - c_s codes[f, s]. Each stage's distances (up to ||r||^2, which
// does not change the argmin) are a one-step conv of r with kernel -2 C_s^T and bias ||c_sn||^2,
// in float32: they pick the codes. Ties go to the first index, as XLA's argmin.
ffi::Error RvqEncode(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> kernels,
                     ffi::Buffer<ffi::F32> sqnorms, ffi::Buffer<ffi::F32> codebooks,
                     ffi::ResultBuffer<ffi::S32> codes) {
  const auto xd = x.dimensions(), kd = kernels.dimensions(), cd = codebooks.dimensions();
  if (xd.size() != 2 || kd.size() != 5 || cd.size() != 3 || kd[2] != 1 || kd[4] != 32)
    return ffi::Error::InvalidArgument(
        "sscodec_rvq_encode: x [F, D], kernels [S, N/32, 1, D, 32], codebooks [S, N, D]");
  const int64_t frames = xd[0], dim = xd[1], stages = kd[0], blocks = kd[1], n = cd[1];
  if (kd[3] != dim || cd[0] != stages || cd[2] != dim || n > 32 * blocks ||
      sqnorms.dimensions()[1] != 32 * blocks || codes->dimensions()[1] != stages ||
      codes->dimensions()[0] != frames)
    return ffi::Error::InvalidArgument("sscodec_rvq_encode: shapes do not agree");
  const Geometry g{dim, 1, dim, dim, dim * 32, 32 * blocks};
  std::vector<float> residual(dim), dist(32 * blocks);
  for (int64_t f = 0; f < frames; ++f) {
    copy_rows(x.typed_data() + f * dim, residual.data(), dim, false);
    for (int64_t s = 0; s < stages; ++s) {
      conv<false>(g, residual.data(), kernels.typed_data() + s * blocks * dim * 32,
                  sqnorms.typed_data() + s * 32 * blocks, dist.data(), 1, blocks, false);
      int64_t best = 0;
      for (int64_t i = 1; i < n; ++i)
        if (dist[i] < dist[best]) best = i;
      codes->typed_data()[f * stages + s] = int32_t(best);
      const float* entry = codebooks.typed_data() + (s * n + best) * dim;
      for (int64_t i = 0; i < dim; ++i) residual[i] -= entry[i];
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SscodecConv1d, Conv1d,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("stride")
                                  .Attr<int64_t>("dilation")
                                  .Attr<int64_t>("skip")
                                  .Attr<int64_t>("activation")
                                  .Attr<int64_t>("has_residual"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SscodecRvqEncode, RvqEncode,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(SscodecResidualUnit, ResidualUnit,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("dilation")
                                  .Attr<int64_t>("skip")
                                  .Attr<int64_t>("hidden"));
