#include "ops/conv2d.h"
#include "ops/conv2d_im2col.h"
#include "ops/conv2d_winograd.h"

#include <cstdio>
#include <numeric>
#include <tuple>

#include "core/error.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
using namespace sdvk::ops;

namespace {

struct ConvCase {
  const char* name;
  int64_t n, cin, h, w, cout, kh, kw;
  Conv2dParams p;
  bool bias, residual;
};

Conv2dParams asym(int sh, int sw, int top, int bottom, int left, int right) {
  Conv2dParams p;
  p.stride_h = sh, p.stride_w = sw;
  p.pad_top = top, p.pad_bottom = bottom, p.pad_left = left, p.pad_right = right;
  return p;
}

Conv2dParams with_act(Conv2dParams p, Activation f) {
  p.has_activation = true;
  p.activation = f;
  return p;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

enum class Path { Winograd, Pointwise, Gemm, Direct };

// The path conv2d picks for this shape, in its order.
Path path_for(const Shape& xs, const Shape& ws, const Conv2dParams& p, DType dtype = DType::F32,
              const Context& ctx = test::ctx()) {
  if (conv2d_winograd_applies(ctx, xs, ws, p)) return Path::Winograd;
  if (conv2d_is_pointwise(ws, p)) return Path::Pointwise;
  if (conv2d_im2col_applies(ctx, xs, ws, p, dtype)) return Path::Gemm;
  return Path::Direct;
}

// The recorded kernels are the algorithm and family the context asks for: Winograd ends with
// its output transform after a GEMM of the family; a pointwise kernel is one GEMM of the
// family; the GEMM path alternates patch gathers and GEMMs of the family, a pair per chunk of
// images; direct is one conv kernel of the family.
void expect_path(const Context& ctx, const Sequence& s, Path path) {
  const auto prof = s.profile();
  const std::string last = prof.back().kernel;
  EXPECT_EQ(contains(last, "conv2d_winograd_output"), path == Path::Winograd) << last;
  if (path == Path::Pointwise || path == Path::Gemm) {
    if (path == Path::Pointwise) {
      EXPECT_EQ(prof.size(), 1u);
    } else {
      EXPECT_EQ(prof.size() % 2, 0u);
    }
    for (size_t i = 0; i < prof.size(); i++) {
      const std::string& k = prof[i].kernel;
      const bool gather = path == Path::Gemm && i % 2 == 0;
      EXPECT_TRUE(contains(k, gather ? "conv2d_im2col" : "matmul")) << i << ": " << k;
      if (!gather) {
        EXPECT_EQ(contains(k, "matmul_tiled"), !ctx.cpu_kernels()) << k;
      }
    }
  } else if (path == Path::Winograd) {
    ASSERT_GE(prof.size(), 2u);
    EXPECT_EQ(contains(prof[prof.size() - 2].kernel, "matmul_tiled"), !ctx.cpu_kernels()) << prof[prof.size() - 2].kernel;
  } else {
    EXPECT_EQ(contains(last, "conv2d_tiled"), !(ctx.cpu_kernels() && conv2d_cpu_kernel_supported(ctx))) << last;
  }
}

// Runs one case on ctx's current kernel family and conv algorithm and compares with
// ref::conv2d on the same (float16-rounded where the storage is float16) inputs; with
// `in_place`, the residual is y itself. Returns the number of dispatches recorded.
size_t run_case(const ConvCase& c, DType dtype, double tol, uint32_t seed = 1, Context& ctx = test::ctx(),
                bool in_place = false) {
  Shape xs{c.n, c.cin, c.h, c.w}, ws{c.cout, c.cin, c.kh, c.kw};
  Shape ys = conv2d_output_shape(xs, ws, c.p);
  auto prep = [&](size_t n, uint32_t s) {
    auto v = test::random_vector(n, seed * 7919 + s);
    return dtype == DType::F16 ? test::round_to_half(v) : v;
  };
  auto x = prep(size_t(shape_numel(xs)), 1), w = prep(size_t(shape_numel(ws)), 2);
  auto b = prep(size_t(c.cout), 3), r = prep(size_t(shape_numel(ys)), 4);
  Tensor tx = Tensor::from_floats(ctx, xs, dtype, x), tw = Tensor::from_floats(ctx, ws, dtype, w);
  Tensor tb = Tensor::from_floats(ctx, {c.cout}, dtype, b), tr = Tensor::from_floats(ctx, ys, dtype, r);
  Tensor ty = in_place ? Tensor::from_floats(ctx, ys, dtype, r) : Tensor::empty(ctx, ys, dtype);
  Sequence s(ctx);
  conv2d(s, tx, tw, c.bias ? &tb : nullptr, ty, c.p, c.residual ? (in_place ? &ty : &tr) : nullptr);
  s.run();
  expect_path(ctx, s, path_for(xs, ws, c.p, dtype, ctx));
  auto want = ref::conv2d(x, xs, w, ws, c.bias ? &b : nullptr, c.p, c.residual ? &r : nullptr);
  test::expect_close(ty.download(ctx), want, tol, std::string(c.name) + " " + dtype_name(dtype));
  return s.profile().size();
}

// float32: sums of at most ~23000 products in float32: direct worst ~1.1e-6; Winograd's
// transforms scale rounding errors up (coefficients up to 8 and 1/24), worst 1.7e-5 (2560
// channels, LongestReduction).
constexpr double kTolF32 = 1e-4;
// float16 storage: inputs are exact (rounded before the reference), the arithmetic is float32,
// and y is rounded once to float16: at most 2^-11 ~ 4.9e-4 of |y| <= max |ref| (worst seen
// here 4.1e-4). 1e-3 leaves room for the float32 sums.
constexpr double kTolF16 = 1e-3;

// Tests force a kernel family and conv algorithm (and may lower the dispatch limit): restore
// them afterwards.
class FamilyTest : public test::VkTest {
 protected:
  void TearDown() override {
    test::ctx().set_kernel_family(KernelFamily::Auto);
    test::ctx().set_conv_algorithm(ConvAlgorithm::Auto);
    test::ctx().set_dispatch_limit(UINT32_MAX);  // clamped to the device's limits
    test::VkTest::TearDown();
  }
};

using ConvParam = std::tuple<ConvCase, KernelFamily, ConvAlgorithm>;

class Conv2dTest : public FamilyTest, public ::testing::WithParamInterface<ConvParam> {
 protected:
  void SetUp() override {
    FamilyTest::SetUp();
    test::ctx().set_kernel_family(std::get<1>(GetParam()));
    test::ctx().set_conv_algorithm(std::get<2>(GetParam()));
  }
};

// Every (family, algorithm) pair in turn, forced on the context.
template <class F>
void for_each_path(F f) {
  for (ConvAlgorithm a : {ConvAlgorithm::Direct, ConvAlgorithm::Winograd, ConvAlgorithm::Gemm})
    for (KernelFamily k : {KernelFamily::Cpu, KernelFamily::Gpu}) {
      test::ctx().set_conv_algorithm(a);
      test::ctx().set_kernel_family(k);
      f();
    }
}

TEST_P(Conv2dTest, Float32MatchesReference) { run_case(std::get<0>(GetParam()), DType::F32, kTolF32); }
TEST_P(Conv2dTest, Float16MatchesReference) { run_case(std::get<0>(GetParam()), DType::F16, kTolF16); }

// SD shapes at CI size (channels and images scaled down), then awkward ones.
const ConvCase kCases[] = {
    // UNet/VAE ResnetBlock conv: 3x3 stride 1 padding 1
    {"resnet_3x3_s1p1", 2, 32, 16, 16, 64, 3, 3, conv_params(1, 1), true, false},
    // UNet Downsample2D: 3x3 stride 2 padding 1
    {"unet_down_3x3_s2p1", 1, 32, 16, 16, 32, 3, 3, conv_params(2, 1), true, false},
    // ResnetBlock conv_shortcut / attention proj: 1x1, with the skip connection fused
    {"shortcut_1x1_residual", 2, 64, 8, 8, 32, 1, 1, conv_params(1, 0), true, true},
    // 1x1 stride-1 unpadded kernels run as a GEMM per image (ops::pointwise_conv): odd sizes
    // take its scalar loads; padded or strided 1x1 kernels stay on the convolution kernels.
    {"pointwise_odd_3x13x7", 3, 13, 13, 7, 27, 1, 1, with_act(conv_params(1, 0), Activation::SiLU), true, true},
    {"pointwise_padded", 1, 8, 5, 5, 8, 1, 1, conv_params(1, 1), true, false},
    {"pointwise_stride2", 2, 8, 9, 9, 16, 1, 1, conv_params(2, 0), true, true},
    // VAE encoder Downsample2D: pad (left 0, right 1, top 0, bottom 1), then 3x3 stride 2
    {"vae_down_asym_pad", 1, 16, 16, 16, 16, 3, 3, asym(2, 2, 0, 1, 0, 1), true, false},
    {"vae_down_asym_pad_odd", 1, 16, 13, 7, 16, 3, 3, asym(2, 2, 0, 1, 0, 1), true, false},
    // CLIP vision patch embedding: kernel = stride, no bias
    {"patch_embed_k4s4", 1, 3, 16, 16, 32, 4, 4, conv_params(4, 0), false, false},
    {"patch_embed_k14s14", 1, 3, 28, 42, 16, 14, 14, conv_params(14, 0), false, false},
    // VAE encoder conv_in (RGB) and UNet conv_in (latents)
    {"vae_conv_in_cin3", 1, 3, 16, 16, 32, 3, 3, conv_params(1, 1), true, false},
    {"unet_conv_in_cin4", 2, 4, 8, 8, 32, 3, 3, conv_params(1, 1), true, false},
    // VAE decoder conv_out to RGB; UNet conv_out to 4 latent channels
    {"vae_conv_out_cout3", 1, 32, 12, 12, 3, 3, 3, conv_params(1, 1), true, false},
    // awkward: 13 and 127 channels on a non-square 13x7 image, tile tails everywhere
    {"ch13_to_127_13x7", 1, 13, 13, 7, 127, 3, 3, conv_params(1, 1), true, false},
    {"ch127_to_13_13x7_s2", 2, 127, 13, 7, 13, 3, 3, conv_params(2, 1), false, true},
    {"single_pixel_1ch", 1, 1, 1, 1, 1, 3, 3, conv_params(1, 1), true, false},
    {"rect_kernel_3x1_mixed", 1, 5, 9, 11, 6, 3, 1, asym(2, 1, 1, 0, 2, 1), true, false},
    {"kernel_covers_padding", 1, 2, 2, 3, 3, 5, 5, conv_params(1, 2), false, false},
    // 3x3 stride 1 with other paddings (Winograd tiles must follow any of them)
    {"asym_pad_3x3_s1", 2, 16, 9, 11, 24, 3, 3, asym(1, 1, 0, 2, 1, 0), true, true},
    {"pad2_3x3_s1", 1, 16, 5, 6, 16, 3, 3, conv_params(1, 2), true, false},
    // epilogues: bias + activation + residual together, activation without bias
    {"silu_bias_residual", 1, 32, 9, 9, 32, 3, 3, with_act(conv_params(1, 1), Activation::SiLU), true, true},
    {"gelu_no_bias", 1, 16, 8, 8, 24, 1, 1, with_act(conv_params(1, 0), Activation::GeluErf), false, false},
    {"quick_gelu_s2", 1, 8, 10, 10, 8, 3, 3, with_act(conv_params(2, 1), Activation::QuickGelu), true, false},
};

// The cases Winograd serves: 3x3, stride 1 (any padding).
std::vector<ConvCase> winograd_cases() {
  std::vector<ConvCase> v;
  for (const ConvCase& c : kCases)
    if (c.kh == 3 && c.kw == 3 && c.p.stride_h == 1 && c.p.stride_w == 1) v.push_back(c);
  return v;
}

std::string case_name(const ::testing::TestParamInfo<ConvParam>& info) {
  return std::string(std::get<0>(info.param).name) + (std::get<1>(info.param) == KernelFamily::Cpu ? "_cpu" : "_gpu");
}

INSTANTIATE_TEST_SUITE_P(Direct, Conv2dTest,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu),
                                            ::testing::Values(ConvAlgorithm::Direct)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Winograd, Conv2dTest,
                         ::testing::Combine(::testing::ValuesIn(winograd_cases()),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu),
                                            ::testing::Values(ConvAlgorithm::Winograd)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Gemm, Conv2dTest,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(KernelFamily::Cpu, KernelFamily::Gpu),
                                            ::testing::Values(ConvAlgorithm::Gemm)),
                         case_name);

using Conv2d = FamilyTest;

// Few channels, many pixels: a grid of many groups (512 for the CPU family, 1024 GPU tiles).
TEST_F(Conv2d, LargeGrid) {
  const ConvCase c{"large_grid_4to8_256x256", 1, 4, 256, 256, 8, 3, 3, conv_params(1, 1), true, false};
  for_each_path([&] { run_case(c, DType::F32, kTolF32, 5); });
}

// The dispatch limit lowered to 2 groups: the Sequence splits the grid in x, y and z, and the
// shader must take the base group from gl_WorkGroupID.
TEST_F(Conv2d, SplitDispatch) {
  auto& ctx = test::ctx();
  const ConvCase c{"split_3x_4to12_40x40", 3, 4, 40, 40, 12, 3, 3, conv_params(1, 1), true, true};
  ctx.set_dispatch_limit(2);
  for_each_path([&] { run_case(c, DType::F16, kTolF16, 6); });
}

// The skip connection added in place (residual is y): each element is read before it is written.
TEST_F(Conv2d, ResidualMayBeOutput) {
  auto& ctx = test::ctx();
  for (int k : {3, 1}) {  // 1: the pointwise GEMM path
    Shape xs{1, 8, 6, 5}, ws{8, 8, k, k};
    auto x = test::random_vector(240, 11), w = test::random_vector(size_t(64 * k * k), 12);
    auto r = test::random_vector(240, 13);
    const Conv2dParams cp = conv_params(1, k / 2);
    auto want = ref::conv2d(x, xs, w, ws, nullptr, cp, &r);
    for_each_path([&] {
      Tensor tx = Tensor::from_floats(ctx, xs, DType::F32, x), tw = Tensor::from_floats(ctx, ws, DType::F32, w);
      Tensor ty = Tensor::from_floats(ctx, xs, DType::F32, r);
      Sequence s(ctx);
      conv2d(s, tx, tw, nullptr, ty, cp, &ty);
      s.run();
      test::expect_close(ty.download(ctx), want, kTolF32, "in-place residual " + std::to_string(k) + "x" + std::to_string(k));
    });
  }
}

// The longest reduction in SD: the UNet's first up block convolves 1280 + 1280 skip channels,
// K = 2560*9 = 23040 (at 8x8 for a 512 image). lavapipe silently stops a shader's loops after
// 65535 iterations in all, so the per-invocation trip count must stay far below that.
TEST_F(Conv2d, LongestReduction) {
  const ConvCase c{"up_block_2560ch_8x8", 1, 2560, 8, 8, 16, 3, 3, conv_params(1, 1), true, false};
  for_each_path([&] { run_case(c, DType::F32, kTolF32, 7); });
}

// Winograd's intermediates are chunked to stay within 32 MiB: 2560 input channels give chunks of
// 91 output channels (3 here) and of 88 tiles (2 for the 100 tiles of a 40x40 image).
TEST_F(Conv2d, WinogradChunks) {
  test::ctx().set_conv_algorithm(ConvAlgorithm::Winograd);
  run_case({"channel_chunks_2560to200_8x8", 1, 2560, 8, 8, 200, 3, 3, conv_params(1, 1), true, true}, DType::F32,
           kTolF32, 8);
  run_case({"tile_chunks_2560to8_40x40", 1, 2560, 40, 40, 8, 3, 3, conv_params(1, 1), true, false}, DType::F16,
           kTolF16, 9);
}

// The GEMM path's patch buffer holds whole images within 32 MiB or the storage-buffer range,
// whichever is less. With a 16 KiB range, 8 channels at 6x6 need 10368 bytes an image as
// float32 (1 image a chunk) and 5184 as float16 (3 a chunk): 5 images go in 5 chunks, or 3 + 2.
// Each GEMM writes its slice of y and adds its slice of the residual, also when that is y.
TEST_F(Conv2d, GemmChunks) {
  Context& ctx = test::constrained_ctx(1 << 20, 16 << 10);
  ctx.set_conv_algorithm(ConvAlgorithm::Gemm);
  const ConvCase c{"image_chunks_5x8to8_6x6", 5, 8, 6, 6, 8, 3, 3, conv_params(1, 1), true, true};
  for (bool in_place : {false, true}) {
    EXPECT_EQ(run_case(c, DType::F32, kTolF32, 10, ctx, in_place), 2u * 5);
    EXPECT_EQ(run_case(c, DType::F16, kTolF16, 10, ctx, in_place), 2u * 2);
  }
  ctx.set_conv_algorithm(ConvAlgorithm::Auto);
}

// A chunk ends where the next image's slice of y starts on the storage-offset alignment A: with
// 3 output channels at 5x5 as float16 (150 bytes an image) only multiples of k = A / gcd(150, A)
// images do. A budget of k images' patches chunks k + 1 images as k and 1; one of k - 1 images
// has no aligned chunk, and the conv runs on the direct kernel.
TEST_F(Conv2d, GemmChunksAlign) {
  const int64_t a = test::ctx().info().min_storage_offset_alignment, k = a / std::gcd<int64_t>(150, a);
  const int64_t patches = 9 * 25 * 2;  // one input channel
  const ConvCase c{"aligned_chunks_1to3_5x5", k + 1, 1, 5, 5, 3, 3, 3, conv_params(1, 1), true, true};
  for (int64_t images : {k, k - 1}) {
    Context& ctx = test::constrained_ctx(1 << 20, uint64_t(images * patches));
    ctx.set_conv_algorithm(ConvAlgorithm::Gemm);
    EXPECT_EQ(run_case(c, DType::F16, kTolF16, 11, ctx), images == k ? 4u : 1u) << images << " images";
    ctx.set_conv_algorithm(ConvAlgorithm::Auto);
  }
}

// A resnet's two convs through planned temporaries: h = silu(conv1(x)) lives in the sequence's
// arena, y = conv2(h) + x. The overlap check must work on temporaries not yet placed.
TEST_F(Conv2d, ChainThroughPlannedTemporary) {
  auto& ctx = test::ctx();
  Shape xs{2, 8, 7, 9}, ws{8, 8, 3, 3};
  auto x = test::random_vector(size_t(shape_numel(xs)), 21), w1 = test::random_vector(576, 22),
       w2 = test::random_vector(576, 23), b = test::random_vector(8, 24);
  Conv2dParams p1 = with_act(conv_params(1, 1), Activation::SiLU), p2 = conv_params(1, 1);
  auto want = ref::conv2d(ref::conv2d(x, xs, w1, ws, &b, p1), xs, w2, ws, &b, p2, &x);
  for_each_path([&] {
    Tensor tx = Tensor::from_floats(ctx, xs, DType::F32, x), tb = Tensor::from_floats(ctx, {8}, DType::F32, b);
    Tensor tw1 = Tensor::from_floats(ctx, ws, DType::F32, w1), tw2 = Tensor::from_floats(ctx, ws, DType::F32, w2);
    Tensor ty = Tensor::empty(ctx, xs, DType::F32);
    Sequence s(ctx);
    Tensor h = s.temp(xs, DType::F32, "h");
    conv2d(s, tx, tw1, &tb, h, p1);
    conv2d(s, h, tw2, &tb, ty, p2, &tx);
    s.run();
    test::expect_close(ty.download(ctx), want, kTolF32, "conv chain");
  });
}

// Auto picks by shape (ops/conv2d.h): with the CPU kernel family, Winograd for SD-sized 3x3
// stride-1 convs of more than 8 tiles, the GEMM path for the deepest levels and the
// downsamplers, the direct kernel for narrow channels and for patch buffers over 32 MiB.
TEST_F(Conv2d, AutoPaths) {
  test::ctx().set_conv_algorithm(ConvAlgorithm::Auto);
  test::ctx().set_kernel_family(KernelFamily::Cpu);
  const Conv2dParams s1 = conv_params(1, 1), s2 = conv_params(2, 1);
  EXPECT_EQ(path_for({2, 640, 16, 16}, {640, 640, 3, 3}, s1), Path::Winograd);    // 32 tiles
  EXPECT_EQ(path_for({1, 1280, 12, 12}, {1280, 1280, 3, 3}, s1), Path::Winograd); // 9 tiles
  EXPECT_EQ(path_for({2, 1280, 8, 8}, {1280, 1280, 3, 3}, s1), Path::Gemm);       // 8 tiles
  EXPECT_EQ(path_for({1, 2560, 4, 4}, {1280, 2560, 3, 3}, s1), Path::Gemm);       // 1 tile
  EXPECT_EQ(path_for({2, 320, 64, 64}, {320, 320, 3, 3}, s2), Path::Gemm);        // downsampler
  EXPECT_EQ(path_for({1, 128, 512, 512}, {128, 128, 3, 3}, s2), Path::Direct);    // 302 MB of patches
  EXPECT_EQ(path_for({1, 320, 128, 128}, {320, 320, 3, 3}, s2), Path::Direct);    // 47 MB as float32,
  EXPECT_EQ(path_for({1, 320, 128, 128}, {320, 320, 3, 3}, s2, DType::F16), Path::Gemm);  // 24 as float16
  EXPECT_EQ(path_for({2, 64, 8, 8}, {64, 64, 3, 3}, s1), Path::Direct);           // narrow
  EXPECT_EQ(path_for({2, 4, 64, 64}, {320, 4, 3, 3}, s1), Path::Direct);          // conv_in
  EXPECT_EQ(path_for({2, 320, 64, 64}, {320, 320, 1, 1}, conv_params(1, 0)), Path::Pointwise);
  // The GPU kernel family keeps Winograd and the direct kernel (the GEMM path is unmeasured there).
  test::ctx().set_kernel_family(KernelFamily::Gpu);
  EXPECT_EQ(path_for({2, 1280, 8, 8}, {1280, 1280, 3, 3}, s1), Path::Winograd);
  EXPECT_EQ(path_for({2, 320, 64, 64}, {320, 320, 3, 3}, s2), Path::Direct);
}

TEST_F(Conv2d, OutputShape) {
  // VAE encoder downsample of a 512x512 image: pad right/bottom by 1, 3x3 stride 2 -> 256x256
  EXPECT_EQ(conv2d_output_shape({1, 128, 512, 512}, {128, 128, 3, 3}, asym(2, 2, 0, 1, 0, 1)),
            (Shape{1, 128, 256, 256}));
  // UNet downsample 64 -> 32, CLIP ViT-L/14 patches of a 224 image -> 16x16
  EXPECT_EQ(conv2d_output_shape({2, 320, 64, 64}, {320, 320, 3, 3}, conv_params(2, 1)), (Shape{2, 320, 32, 32}));
  EXPECT_EQ(conv2d_output_shape({1, 3, 224, 224}, {1024, 3, 14, 14}, conv_params(14, 0)), (Shape{1, 1024, 16, 16}));
}

TEST_F(Conv2d, BadArgumentsThrow) {
  auto& ctx = test::ctx();
  Tensor x = Tensor::empty(ctx, {1, 4, 8, 8}, DType::F32), w = Tensor::empty(ctx, {6, 4, 3, 3}, DType::F32);
  Tensor y = Tensor::empty(ctx, {1, 6, 8, 8}, DType::F32), b = Tensor::empty(ctx, {6}, DType::F32);
  Sequence s(ctx);
  auto p = conv_params(1, 1);
  EXPECT_NO_THROW(conv2d(s, x, w, &b, y, p));
  EXPECT_THROW(conv2d(s, x, w, &b, Tensor::empty(ctx, {1, 6, 7, 8}, DType::F32), p), Error);       // wrong y
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx, {6, 3, 3, 3}, DType::F32), &b, y, p), Error);       // Cin differs
  EXPECT_THROW(conv2d(s, x, w, &x, y, p), Error);                                                  // bias shape
  EXPECT_THROW(conv2d(s, x, w, &b, y, p, &x), Error);                                              // residual shape
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx, {6, 4, 3, 3}, DType::F16), &b, y, p), Error);       // dtype
  EXPECT_THROW(conv2d(s, x.reshape({4, 8, 8}), w, &b, y, p), Error);                               // not 4-D
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx, {6, 4, 11, 11}, DType::F32), &b, y, p), Error);     // kernel too big
  EXPECT_THROW(conv2d(s, x, w, &b, y, conv_params(0, 1)), Error);                                  // stride 0
  EXPECT_THROW(conv2d(s, x, Tensor::empty(ctx, {4, 4, 3, 3}, DType::F32), nullptr, x, p), Error);  // y is x
  try {
    conv2d(s, x, w, &b, Tensor::empty(ctx, {1, 6, 7, 8}, DType::F32), p);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1,6,7,8]"), std::string::npos) << e.what();
  }
}

}  // namespace
