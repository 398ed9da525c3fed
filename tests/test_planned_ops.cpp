// Ops recorded on planned temporaries (Sequence::temp), as networks use them: argument checks
// and kernel choices must work before the temporaries have memory, and results must match.
#include "ops/attention.h"
#include "ops/binary.h"
#include "ops/concat.h"
#include "ops/conv2d.h"
#include "ops/matmul.h"
#include "ops/upsample_nearest.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

using PlannedOps = test::VkTest;

TEST_F(PlannedOps, ChainThroughTemporariesMatchesReference) {
  auto& c = test::ctx();
  const int64_t t = 16, ch = 32, heads = 4;
  auto x = test::random_vector(size_t(t * ch), 1), w = test::random_vector(size_t(ch * ch), 2, -0.3f, 0.3f);
  auto bias = test::random_vector(size_t(ch), 3);
  auto img = test::random_vector(size_t(2 * 4 * 4), 4), cw = test::random_vector(size_t(4 * 2 * 3 * 3), 5);

  Tensor tx = Tensor::from_floats(c, {1, t, ch}, DType::F32, x), tw = Tensor::from_floats(c, {ch, ch}, DType::F32, w);
  Tensor tb = Tensor::from_floats(c, {ch}, DType::F32, bias);
  Tensor timg = Tensor::from_floats(c, {1, 2, 4, 4}, DType::F32, img);
  Tensor tcw = Tensor::from_floats(c, {4, 2, 3, 3}, DType::F32, cw);
  Sequence s(c);
  Tensor h = s.temp({1, t, ch}, DType::F32, "h");
  linear(s, tx, tw, nullptr, h);                                  // h = x W^T
  Tensor h2 = s.temp({1, t, ch}, DType::F32, "h2");
  binary(s, BinaryOp::Add, h, tb, h2);                            // + bias (broadcast)
  Tensor a = s.temp({1, t, ch}, DType::F32, "a");
  attention(s, h2, h2, h2, a, int(heads));                        // self-attention
  Tensor r = s.temp({1, t, ch}, DType::F32, "r");
  linear(s, a, tw, &tb, r, Epilogue{&h2});                        // + residual
  s.keep(r);
  Tensor up = s.temp({1, 2, 8, 8}, DType::F32, "up");
  upsample_nearest2x(s, timg, up);
  Tensor cat = s.temp({1, 4, 8, 8}, DType::F32, "cat");
  concat(s, {up, up}, 1, cat);
  Tensor conv = s.temp({1, 4, 8, 8}, DType::F32, "conv");
  conv2d(s, up, tcw, nullptr, conv, conv_params(1, 1), &cat);     // conv(up) + cat
  s.keep(conv);
  s.run();

  auto rh = ref::linear(x, w, {}, t, ch, ch);
  auto rh2 = ref::binary(BinaryOp::Add, rh, {1, t, ch}, bias, {ch});
  auto ra = ref::attention(rh2, rh2, rh2, 1, t, t, int(heads), ch / heads, false, 0.0f);
  auto rr = ref::linear(ra, w, bias, t, ch, ch, std::nullopt, rh2);
  test::expect_close(r.download(c), rr, 1e-4, "linear/add/attention chain");
  auto rup = ref::upsample_nearest2x(img, 1, 2, 4, 4);
  auto rcat = ref::concat({rup, rup}, {{1, 2, 8, 8}, {1, 2, 8, 8}}, 1);
  auto rconv = ref::conv2d(rup, {1, 2, 8, 8}, cw, {4, 2, 3, 3}, nullptr, conv_params(1, 1), &rcat);
  test::expect_close(conv.download(c), rconv, 1e-4, "upsample/concat/conv chain");
  EXPECT_LT(s.arena_bytes(), s.temp_bytes_unshared());
}

}  // namespace
