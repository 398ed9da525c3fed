#include "vae/blocks.h"

#include "core/error.h"
#include "ops/nonfinite.h"

namespace sdvk::vae {

UNetMidBlock2D UNetMidBlock2D::load(const nn::Params& p, int64_t C, int groups, float eps) {
  UNetMidBlock2D m;
  m.resnets.push_back(nn::ResnetBlock2D::load(p.at("resnets.0"), C, C, 0, groups, eps));
  m.attentions.push_back(nn::Attention::load_spatial(p.at("attentions.0"), C, groups, eps));
  m.resnets.push_back(nn::ResnetBlock2D::load(p.at("resnets.1"), C, C, 0, groups, eps));
  return m;
}

Tensor UNetMidBlock2D::forward(Sequence& s, const Tensor& x, const std::string& name) const {
  Tensor h = resnets[0].forward(s, x, nullptr, name + ".resnets.0");                   // [N,C,h,w]
  h = attentions[0].forward_spatial(s, h, name + ".attentions.0");                      // [N,C,h,w]
  return resnets[1].forward(s, h, nullptr, name + ".resnets.1");                        // [N,C,h,w]
}

Tensor DownEncoderBlock2D::forward(Sequence& s, const Tensor& x, const std::string& name) const {
  Tensor h = x;
  for (size_t j = 0; j < resnets.size(); ++j)                                           // [N,Cout,h,w]
    h = resnets[j].forward(s, h, nullptr, name + ".resnets." + std::to_string(j));
  for (const nn::Downsample2D& d : downsamplers)                                        // [N,Cout,h/2,w/2]
    h = d.forward(s, h, name + ".downsamplers.0.conv");
  return h;
}

Tensor UpDecoderBlock2D::forward(Sequence& s, const Tensor& x, const std::string& name) const {
  Tensor h = x;
  for (size_t j = 0; j < resnets.size(); ++j)                                           // [N,Cout,h,w]
    h = resnets[j].forward(s, h, nullptr, name + ".resnets." + std::to_string(j));
  for (const nn::Upsample2D& u : upsamplers)                                            // [N,Cout,2h,2w]
    h = u.forward(s, h, name + ".upsample");
  return h;
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
