#include "vae/blocks.h"

#include "core/error.h"
#include "ops/attention.h"
#include "ops/conv2d.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/permute.h"

namespace sdvk::vae {

Tensor resnet_block(Sequence& s, const nn::Params& p, const Tensor& x, int64_t out_channels, int groups, float eps,
                    const std::string& name) {
  const int64_t n = x.dim(0), cin = x.dim(1), h = x.dim(2), w = x.dim(3), cout = out_channels;
  const DType dt = x.dtype();
  Tensor h1 = s.temp({n, cin, h, w}, dt, name + ".norm1");                                            // [N,Cin,H,W]
  ops::group_norm(s, x, p.get("norm1.weight", {cin}), p.get("norm1.bias", {cin}), h1, groups, eps, true);
  Tensor h2 = s.temp({n, cout, h, w}, dt, name + ".conv1");                                           // [N,Cout,H,W]
  Tensor b1 = p.get("conv1.bias", {cout});
  ops::conv2d(s, h1, p.get("conv1.weight", {cout, cin, 3, 3}), &b1, h2, ops::conv_params(1, 1));
  Tensor h3 = s.temp({n, cout, h, w}, dt, name + ".norm2");                                           // [N,Cout,H,W]
  ops::group_norm(s, h2, p.get("norm2.weight", {cout}), p.get("norm2.bias", {cout}), h3, groups, eps, true);
  Tensor shortcut = x;                                                                               // [N,Cout,H,W]
  if (cin != cout) {
    shortcut = s.temp({n, cout, h, w}, dt, name + ".conv_shortcut");
    Tensor bs = p.get("conv_shortcut.bias", {cout});
    ops::conv2d(s, x, p.get("conv_shortcut.weight", {cout, cin, 1, 1}), &bs, shortcut, ops::conv_params(1, 0));
  }
  Tensor y = s.temp({n, cout, h, w}, dt, name + ".out");                                              // [N,Cout,H,W]
  Tensor b2 = p.get("conv2.bias", {cout});
  ops::conv2d(s, h3, p.get("conv2.weight", {cout, cout, 3, 3}), &b2, y, ops::conv_params(1, 1), &shortcut);
  return y;
}

Tensor attention_block(Sequence& s, const nn::Params& p, const Tensor& x, int groups, float eps,
                       const std::string& name) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), t = h * w;
  const DType dt = x.dtype();
  Tensor normed = s.temp({n, c, h, w}, dt, name + ".group_norm");                                     // [N,C,H,W]
  ops::group_norm(s, x, p.get("group_norm.weight", {c}), p.get("group_norm.bias", {c}), normed, groups, eps, false);
  Tensor tokens = s.temp({n, t, c}, dt, name + ".tokens");                                            // [N,HW,C]
  ops::permute(s, normed.reshape({n, c, t}), {0, 2, 1}, tokens);
  Tensor residual = s.temp({n, t, c}, dt, name + ".residual");                                        // [N,HW,C]
  ops::permute(s, x.reshape({n, c, t}), {0, 2, 1}, residual);
  Tensor q = s.temp({n, t, c}, dt, name + ".q"), k = s.temp({n, t, c}, dt, name + ".k"),
         v = s.temp({n, t, c}, dt, name + ".v");                                                     // [N,HW,C] each
  Tensor bq = p.get("to_q.bias", {c}), bk = p.get("to_k.bias", {c}), bv = p.get("to_v.bias", {c});
  ops::linear(s, tokens, p.get("to_q.weight", {c, c}), &bq, q);
  ops::linear(s, tokens, p.get("to_k.weight", {c, c}), &bk, k);
  ops::linear(s, tokens, p.get("to_v.weight", {c, c}), &bv, v);
  Tensor o = s.temp({n, t, c}, dt, name + ".attn");                                                   // [N,HW,C]
  ops::attention(s, q, k, v, o, 1);                                                                  // one head, 1/sqrt(C)
  Tensor proj = s.temp({n, t, c}, dt, name + ".to_out");                                              // [N,HW,C]
  Tensor bo = p.get("to_out.0.bias", {c});
  ops::Epilogue ep;
  ep.residual = &residual;
  ops::linear(s, o, p.get("to_out.0.weight", {c, c}), &bo, proj, ep);
  Tensor y = s.temp({n, c, h, w}, dt, name + ".out");                                                 // [N,C,H,W]
  ops::permute(s, proj, {0, 2, 1}, y.reshape({n, c, t}));
  return y;
}

Tensor mid_block(Sequence& s, const nn::Params& p, const Tensor& x, int groups, float eps, const std::string& name) {
  const int64_t c = x.dim(1);
  Tensor h = resnet_block(s, p.at("resnets.0"), x, c, groups, eps, name + ".resnets.0");      // [N,C,H,W]
  h = attention_block(s, p.at("attentions.0"), h, groups, eps, name + ".attentions.0");       // [N,C,H,W]
  return resnet_block(s, p.at("resnets.1"), h, c, groups, eps, name + ".resnets.1");          // [N,C,H,W]
}

void check_finite(Context& ctx, const Tensor& count, const std::string& stage) {
  report_nonfinite(ops::read_count(ctx, count), stage);
}

void check_finite(const Sequence& s, const Tensor& count, const std::string& stage) {
  report_nonfinite(uint64_t(s.read_output(count).at(0)), stage);
}

void report_nonfinite(uint64_t bad, const std::string& stage) {
  if (bad != 0) throw Error(stage + ": " + std::to_string(bad) + " NaN/Inf values in the output");
}

}  // namespace sdvk::vae
