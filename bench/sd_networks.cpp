// `sdvk bench sd15` and `sdvk bench sdxl`: the networks at Stable Diffusion 1.5's and SDXL's real
// dimensions, without a download: a UNet and a VAE with the released configs and deterministic
// random weights built in memory (model/random_component.h) run batch-2 UNet calls (CFG) and one
// decode (tiled, and whole when its largest activation fits one storage binding), check that the
// outputs are finite, and report seconds, GFLOP/s, peak device memory and peak RSS.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <sys/resource.h>

#include "core/error.h"
#include "gen/cli.h"
#include "gen/precision_flag.h"
#include "gen/profile.h"
#include "gen/tile_flag.h"
#include "model/random_component.h"
#include "unet/unet.h"
#include "vae/tiled_decoder.h"
#include "vk/memory.h"

namespace sdvk::cli {
namespace {

// One model family's networks at their real dimensions, and how generate runs them.
struct Family {
  std::string name, title;  // "sd15", "SD 1.5"
  nlohmann::json (*unet_config)();
  nlohmann::json (*vae_config)();
  int64_t context_width = 768;  // encoder_hidden_states [2,77,W]
  int64_t pooled_width = 0;     // SDXL's text_embeds [2,P]; 0: no text_time inputs
  int min_size = 256, max_size = 512, default_size = 512;
  std::string default_tile = "40";
  bool vae_float32 = false;  // SDXL's force_upcast: generate decodes in float32
  std::string flops_note;    // the UNet's FLOPs at the default size
};

const Family kSd15 = {"sd15", "SD 1.5", sd15_unet_config, sd15_vae_config, 768, 0, 256, 512, 512, "40", false,
                      "1.6 TFLOP per UNet call at 512"};
const Family kSdxl = {"sdxl", "SDXL", sdxl_unet_config, sdxl_vae_config, 2048, 1280, 512, 1024, 1024, "auto", true,
                      "13.5 TFLOP per UNet call at 1024, 3.2 at 512"};

std::string usage(const Family& f) {
  const std::string sizes = "--size " + std::to_string(f.min_size) + "|" + std::to_string(f.max_size);
  const std::string tile = f.default_tile == "auto" ? "auto, as generate" : f.default_tile + " latent pixels";
  return "usage: sdvk bench " + f.name + " [" + sizes + "] [--precision fp32|fp16] [--part unet|vae|all]\n"
         "                       [--runs N] [--profile] [--device D] [--tile N|auto] [--no-full]\n"
         "Runs " + f.title + "-sized networks with random weights built in memory:\n"
         "  - UNet calls as one CFG step makes them: batch 2, a size/8 latent, 77x" + std::to_string(f.context_width) +
         " context" + (f.pooled_width ? ",\n    the pooled text embedding and add_time_ids" : "") +
         "; the first call, then the best of --runs more (default 1);\n"
         "  - VAE decodes to size x size pixels" + (f.vae_float32 ? " in float32 (force_upcast, as generate)" : "") +
         ", the first and the best of --runs more,\n    tiled (--tile, default " + tile +
         "; overlap 1/4), and once whole when its largest\n    activation fits the device's storage-buffer range "
         "(--no-full skips it).\n"
         "Prints seconds, GFLOP/s (direct-algorithm FLOPs: " + f.flops_note + "), peak device\n"
         "memory and peak RSS per part; --profile adds the GPU time per op kind of a UNet call and of a\n"
         "whole decode. Default size " + std::to_string(f.default_size) + ": minutes on a CPU device.\n";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double peak_rss_mib() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return double(r.ru_maxrss) / 1024.0;  // Linux: KiB
}

double mib(uint64_t bytes) { return double(bytes) / 1048576.0; }

std::vector<float> gaussian(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void check_finite(const std::vector<float>& v, const std::string& what) {
  size_t bad = 0;
  for (float x : v) bad += !std::isfinite(x);
  if (bad) throw Error("bench: " + what + " has " + std::to_string(bad) + " non-finite values");
}

void report(const char* part, const char* what, double seconds, Allocator& a) {
  std::printf("%-5s %-28s %9.2f s   device peak %8.1f MiB   peak RSS %8.1f MiB\n", part, what, seconds,
              mib(a.peak_bytes_in_use()), peak_rss_mib());
  std::fflush(stdout);
}

void run_unet(Context& ctx, const Family& f, DType dt, int64_t latent, int runs, bool profile) {
  RandomComponent u = random_component("unet", ComponentKind::UNet, f.unet_config(), 1);
  std::printf("unet: %.0fM parameters, %.0f MiB as %s\n", double(u.component.parameters()) * 1e-6,
              mib(u.component.parameters() * dtype_bytes(dt)), dtype_name(dt));
  Allocator& a = ctx.allocator();
  a.reset_peak();
  auto t0 = std::chrono::steady_clock::now();
  unet::UNet2DConditionModel m(ctx, u.component, dt);
  Tensor x = Tensor::from_floats(ctx, {2, 4, latent, latent}, dt, gaussian(size_t(2 * 4 * latent * latent), 11),
                                 "sample");
  Tensor t = Tensor::from_floats(ctx, {2}, DType::F32, {981.0f, 981.0f}, "timestep");
  const int64_t W = f.context_width;
  Tensor c = Tensor::from_floats(ctx, {2, 77, W}, dt, gaussian(size_t(2 * 77 * W), 12), "encoder_hidden_states");
  unet::UNet2DConditionModel::TextTime text_time;  // SDXL: a square image, uncropped
  if (f.pooled_width) {
    text_time.text_embeds = Tensor::from_floats(ctx, {2, f.pooled_width}, dt, gaussian(size_t(2 * f.pooled_width), 14),
                                                "text_embeds");
    const float px = float(latent * 8);
    text_time.time_ids = Tensor::from_floats(ctx, {2, 6}, DType::F32, {px, px, 0, 0, px, px, px, px, 0, 0, px, px},
                                             "time_ids");
  }
  Sequence s(ctx, profile && ctx.info().timestamps);
  Tensor y = m.forward(s, x, t, c, f.pooled_width ? &text_time : nullptr);  // uploads the weights as it records
  report("unet", "upload + record", seconds_since(t0), a);
  const std::string size = std::to_string(latent) + "x" + std::to_string(latent);
  double best = 0;
  for (int i = 0; i <= runs; i++) {  // call 0 also places the activations and records
    t0 = std::chrono::steady_clock::now();
    s.run();
    const double call = seconds_since(t0);
    const bool counts = i > 0 || runs == 0;  // with --runs 0 the first call is the only one
    if (counts && (best == 0 || call < best)) best = call;
    std::string what = (i == 0 ? "first call (batch 2, " : "call (batch 2, ") + size + ")";
    report("unet", what.c_str(), call, a);
  }
  m.check_output();
  std::vector<float> out = y.download(ctx);
  check_finite(out, "unet output");
  std::printf("unet: %.1f GFLOP per call, best %.2f s = %.1f GFLOP/s; activation arena %.1f MiB (unshared %.1f MiB), "
              "%zu dispatches, output finite\n",
              s.flops() * 1e-9, best, s.flops() * 1e-9 / best, mib(s.arena_bytes()), mib(s.temp_bytes_unshared()),
              s.dispatch_count());
  if (profile) print_profile(s);
  std::fflush(stdout);
}

// One whole decode in a profiled sequence: the GPU time per op kind and the GFLOP/s.
void profile_vae(Context& ctx, vae::Decoder& dec, const Shape& shape, const std::vector<float>& latent) {
  if (dec.largest_activation_bytes(shape) > ctx.info().max_storage_buffer_range) {
    std::printf("vae: --profile needs a whole decode, which does not fit one storage binding at this size\n");
    return;
  }
  Sequence s(ctx, ctx.info().timestamps);
  Tensor x = Tensor::from_floats(ctx, shape, dec.dtype(), latent, "latent");
  dec.forward(s, x);
  auto t0 = std::chrono::steady_clock::now();
  s.run();
  const double t = seconds_since(t0);
  dec.check_output();
  std::printf("vae: %.1f GFLOP per decode, %.2f s = %.1f GFLOP/s (profiled run)\n", s.flops() * 1e-9, t,
              s.flops() * 1e-9 / t);
  print_profile(s);
}

void run_vae(Context& ctx, const Family& f, DType dt, int64_t side, const vae::TileOptions& tiled, bool full,
             int runs, bool profile) {
  RandomComponent v = random_component("vae", ComponentKind::VAE, f.vae_config(), 2);
  vae::Decoder dec(ctx, v.component, f.vae_float32 ? DType::F32 : dt);
  const Shape shape{1, 4, side, side};
  const std::string px = std::to_string(side * 8), size = px + "x" + px;
  std::vector<float> latent = gaussian(size_t(shape_numel(shape)), 13);
  Allocator& a = ctx.allocator();

  const bool tiles = vae::should_tile(ctx, dec, shape, tiled);
  std::string what = "decode " + size + " whole";
  if (tiles) {
    vae::TileGrid g = vae::tile_grid(ctx, dec, shape, tiled);
    what = "decode " + size + ", " + std::to_string(g.count()) + " tiles " + std::to_string(g.tile_h) + "x" +
           std::to_string(g.tile_w);
  }
  a.reset_peak();
  HostTensor img;
  double best = 0;
  for (int i = 0; i <= runs; i++) {  // as for the UNet: the first decode, then the best of --runs more
    auto t0 = std::chrono::steady_clock::now();
    img = vae::decode_latents(ctx, dec, latent, shape, tiled, [](int i, int n) {
      std::fprintf(stderr, "\rvae: tile %d/%d", i, n);
      if (i == n) std::fprintf(stderr, "\n");
    });
    const double t = seconds_since(t0);
    if ((i > 0 || runs == 0) && (best == 0 || t < best)) best = t;
    report("vae", (i == 0 ? what : what + " again").c_str(), t, a);
  }
  check_finite(img.values, "vae output");
  std::printf("vae: best %.2f s per decode\n", best);
  if (profile) profile_vae(ctx, dec, shape, latent);

  const uint64_t largest = dec.largest_activation_bytes(shape), range = ctx.info().max_storage_buffer_range;
  if (!full || !tiles) return;
  if (largest > range) {
    std::printf("vae   decode %s whole: skipped, its largest activation (%.0f MiB) exceeds the storage-buffer "
                "range (%.0f MiB)\n", size.c_str(), mib(largest), mib(range));
    return;
  }
  vae::TileOptions whole;
  whole.mode = vae::TileOptions::Mode::Off;
  a.reset_peak();
  auto t0 = std::chrono::steady_clock::now();
  HostTensor ref = vae::decode_latents(ctx, dec, latent, shape, whole);
  check_finite(ref.values, "vae output (whole)");
  report("vae", ("decode " + size + " whole").c_str(), seconds_since(t0), a);
  double diff = 0, top = 0;
  for (size_t i = 0; i < ref.values.size(); ++i) {
    diff = std::max(diff, double(std::fabs(ref.values[i] - img.values[i])));
    top = std::max(top, double(std::fabs(ref.values[i])));
  }
  std::printf("vae: tiled vs whole max |diff| %.4g (max |whole| %.4g)\n", diff, top);
}

}  // namespace

namespace {

int bench_family(Args& args, const Family& f) {
  if (args.take_flag("--help")) {
    std::fputs(usage(f).c_str(), stdout);
    return 0;
  }
  ContextOptions opt;
  opt.device = args.take("--device");
  std::string precision = take_precision(args), part = args.take("--part", "all");
  std::string tile = args.take("--tile", f.default_tile);
  const int size = args.take_int("--size", f.default_size, f.min_size, f.max_size);
  const int runs = args.take_int("--runs", 1, 0, 100);
  const bool profile = args.take_flag("--profile");
  bool full = !args.take_flag("--no-full");
  args.expect_empty();
  const Precision choice = check_precision(args.command(), precision);
  const std::string where = "bench " + f.name;
  if (part != "unet" && part != "vae" && part != "all")
    throw Error(where + ": --part " + part + ": expected unet, vae or all");
  vae::TileOptions tiled = parse_tile_flag(tile);
  if (tiled.mode == vae::TileOptions::Mode::Off) throw Error(where + ": --tile off: use a tile size or auto");
  if (size != f.min_size && size != f.max_size)
    throw Error(where + ": --size " + std::to_string(size) + ": expected " + std::to_string(f.min_size) + " or " +
                std::to_string(f.max_size));

  Context ctx(opt);
  const DType dt = precision_dtype(choice, ctx);
  std::printf("device: %s (%s), %s, device memory %.0f MiB, storage-buffer range %.0f MiB\n",
              ctx.info().name.c_str(), device_class_name(ctx.info().device_class), dtype_name(dt),
              mib(ctx.info().device_local_bytes), mib(ctx.info().max_storage_buffer_range));
  std::fflush(stdout);
  // As generate: the UNet is freed (run_unet's scope) before the decode.
  if (part != "vae") run_unet(ctx, f, dt, size / 8, runs, profile);
  if (part != "unet") run_vae(ctx, f, dt, size / 8, tiled, full, runs, profile);
  return 0;
}

}  // namespace

int cmd_bench_sd15(Args& args) { return bench_family(args, kSd15); }
int cmd_bench_sdxl(Args& args) { return bench_family(args, kSdxl); }

}  // namespace sdvk::cli
