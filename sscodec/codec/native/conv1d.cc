// sscodec's native inference kernels, as XLA FFI handlers (the tiles are in tiles.h): a causal
// conv with float32 activations and float32 or bfloat16 weights, a SEANet residual unit, and the
// RVQ's search, written for one-frame streaming, where XLA:CPU's convs read the weights at a
// third of the memory's speed and ~130 small ops surround them. One conv call fuses the conv's
// input activation (ELU), its stream context and the residual add:
//
//   in = [context | act(x)][skip:]          (new_context = the last P rows of [context | act(x)])
//   y[b, t, o] = bias[o] + sum_{j < k} sum_{i < cin} in[b, t * stride + j * dilation, i] * w[j, i, o]
//                (+ residual[b, t, o])

#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "tiles.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using namespace sscodec_native;

namespace {

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
