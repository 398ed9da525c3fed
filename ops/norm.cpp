#include "ops/norm.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "ops/op_util.h"

namespace sdvk::ops {

namespace {

// lavapipe ends a shader after 65535 loop iterations in all (gallivm's loop limiter, shared
// by every loop of the shader) without an error. Rows get enough invocations to stay inside
// that, with room for the reductions' own short loops.
constexpr int64_t kMaxIterations = 60000;

// Iterations of a row loop over `len` values taking 4 per invocation per iteration.
int64_t blocks(int64_t len, uint32_t wg) { return (len + 4 * int64_t(wg) - 1) / (4 * int64_t(wg)); }

// Loop iterations per invocation for a workgroup of `wg`, CPU family or not.
using IterationCount = std::function<int64_t(uint32_t wg, bool cpu)>;

// The kernel for one row per workgroup. CPU family: a workgroup of one subgroup (8 SIMD lanes
// on lavapipe) reduced with subgroup operations: no shared memory and no barriers, and short
// rows (softmax over 77 tokens) keep every lane busy. GPU family: 256 invocations and a
// shared-memory tree. The CPU shape needs subgroup arithmetic; without it the GPU one serves.
// Either doubles its workgroup while a row would overrun the loop budget.
const Kernel& row_kernel(Context& ctx, const std::string& op, const Tensor& x, int64_t row_len, uint32_t bindings,
                         std::vector<uint32_t> spec, const IterationCount& iterations) {
  const DeviceInfo& info = ctx.info();
  bool cpu = ctx.cpu_kernels() && info.subgroup_arithmetic && info.subgroup_size > 0;
  uint32_t wg = cpu ? info.subgroup_size : 256u;
  // GPU: a short row (77 tokens) gets the fewest invocations (at least 64) that cover it in one
  // iteration, rather than 256 mostly idling through the tree.
  while (!cpu && wg > 64 && 4 * int64_t(wg / 2) >= row_len) wg /= 2;
  uint32_t max_wg = std::min<uint32_t>(1024, info.max_workgroup_invocations);
  while (iterations(wg, cpu) > kMaxIterations && wg * 2 <= max_wg) wg *= 2;
  check(iterations(wg, cpu) <= kMaxIterations, op, "x " + shape_str(x.shape()) + ": rows too long for one workgroup");
  spec.insert(spec.begin(), wg);  // constant 0: the workgroup size
  return ctx.kernels().get(variant(ctx, cpu ? op + "_cpu" : op, x.dtype()), bindings, spec);
}

// Element indices stay below 2^31 so that i + 3 * workgroup cannot wrap in the shaders.
void check_fits(const std::string& op, const Tensor& x) {
  check(x.numel() < (int64_t(1) << 31), op, "x " + shape_str(x.shape()) + " has 2^31 elements or more");
}

// gamma and beta: [C] of x's storage type.
void check_affine(const std::string& op, const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t c) {
  for (const Tensor* t : {&gamma, &beta}) {
    check(t->shape() == Shape{c}, op,
          "x " + shape_str(x.shape()) + " needs gamma and beta [" + std::to_string(c) + "], got " +
              shape_str(gamma.shape()) + " and " + shape_str(beta.shape()));
    check_same_dtype(op, x, *t);
  }
}

// GPU family: one workgroup per (sample, group) row leaves most of a large GPU idle (a VAE
// decode has 32 rows; GPUs have 60-170 compute units), so long rows split into chunks of at
// least kMinChunk values until about kFillGroups workgroups run. 1 = no split (the CPU family:
// lavapipe's few threads are busy with 32 rows, and one pass reads x once less).
constexpr int64_t kFillGroups = 1024, kMinChunk = 16 * 256, kMaxChunks = 256;

int64_t group_norm_chunks(const Context& ctx, int64_t rows, int64_t len) {
  if (ctx.cpu_kernels() || rows >= kFillGroups) return 1;
  int64_t want = (kFillGroups + rows - 1) / rows;
  return std::max<int64_t>(1, std::min({want, len / kMinChunk, kMaxChunks}));
}

// The split group norm: chunk moments, then each chunk normalised with the merged statistics.
void group_norm_split(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y,
                      int64_t rows, int64_t groups, int64_t cg, int64_t spatial, float eps, bool silu,
                      int64_t chunks) {
  Context& ctx = s.context();
  int64_t len = cg * spatial, chunk = (len + chunks - 1) / chunks;
  chunks = (len + chunk - 1) / chunk;  // no empty last chunk
  uint32_t wg = 256;
  check(blocks(chunk, wg) + 3 <= kMaxIterations, "group_norm", "x " + shape_str(x.shape()) + ": rows too long");
  Tensor moments = s.temp({rows, chunks, 4}, DType::F32, "group_norm moments");
  struct {
    uint32_t rows, len, chunk, chunks;
  } stats{uint32_t(rows), uint32_t(len), uint32_t(chunk), uint32_t(chunks)};
  const Kernel& ks = ctx.kernels().get(variant(ctx, "group_norm_stats", x.dtype()), 2, {wg});
  s.dispatch(ks, {in(x), out(moments)}, stats, {stats.chunks, stats.rows, 1}, "group_norm stats");
  struct {
    uint32_t rows, groups, cg, s;
    float eps;
    uint32_t chunk, chunks;
  } push{uint32_t(rows), uint32_t(groups), uint32_t(cg), uint32_t(spatial), eps, uint32_t(chunk), uint32_t(chunks)};
  const Kernel& k = ctx.kernels().get(variant(ctx, "group_norm_split", x.dtype()), 5, {wg, uint32_t(silu)});
  s.dispatch(k, {in(x), in(gamma), in(beta), out(y), in(moments)}, push, {push.chunks, push.rows, 1},
             silu ? "group_norm_silu" : "group_norm");
}

}  // namespace

void group_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, int groups,
                float eps, bool silu) {
  const std::string op = "group_norm";
  check(x.ndim() >= 2, op, "x " + shape_str(x.shape()) + " must be [N, C, ...]");
  int64_t n = x.dim(0), c = x.dim(1), spatial = n * c > 0 ? x.numel() / (n * c) : 0;
  check(groups > 0 && c % groups == 0, op,
        "x " + shape_str(x.shape()) + ": " + std::to_string(c) + " channels do not split into " +
            std::to_string(groups) + " groups");
  check_affine(op, x, gamma, beta, c);
  check_same_shape(op, x, y);
  check_same_dtype(op, x, y);
  check_fits(op, x);
  if (x.numel() == 0) return;
  Context& ctx = s.context();
  int64_t cg = c / groups, len = cg * spatial;
  if (int64_t chunks = group_norm_chunks(ctx, n * groups, len); chunks > 1)
    return group_norm_split(s, x, gamma, beta, y, n * groups, groups, cg, spatial, eps, silu, chunks);
  // Statistics pass (+ up to 3 single values), then the output: channel by channel in the CPU
  // shader when a channel fills an iteration (see group_norm.comp), else flat.
  auto iterations = [&](uint32_t wg, bool cpu) {
    bool by_channel = cpu && spatial >= 4 * int64_t(wg);
    return blocks(len, wg) + 3 + (by_channel ? cg * (blocks(spatial, wg) + 1) : blocks(len, wg));
  };
  const Kernel& k = row_kernel(ctx, op, x, len, 4, {uint32_t(silu)}, iterations);
  struct {
    uint32_t rows, groups, cg, s;
    float eps;
    uint32_t chunk, chunks;  // unused: one workgroup per row
  } push{uint32_t(n * groups), uint32_t(groups), uint32_t(cg), uint32_t(spatial), eps, 0, 1};
  s.dispatch(k, {in(x), in(gamma), in(beta), out(y)}, push, {push.rows, 1, 1}, silu ? "group_norm_silu" : op);
}

void layer_norm(Sequence& s, const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& y, float eps) {
  const std::string op = "layer_norm";
  check(x.ndim() >= 1, op, "x " + shape_str(x.shape()) + " must be [..., C]");
  int64_t c = x.dim(-1);
  check_affine(op, x, gamma, beta, c);
  check_same_shape(op, x, y);
  check_same_dtype(op, x, y);
  check_fits(op, x);
  if (x.numel() == 0) return;
  Context& ctx = s.context();
  auto iterations = [&](uint32_t wg, bool) { return 2 * blocks(c, wg) + 3; };  // statistics, output
  const Kernel& k = row_kernel(ctx, op, x, c, 4, {}, iterations);
  struct {
    uint32_t rows, c;
    float eps;
  } push{uint32_t(x.numel() / c), uint32_t(c), eps};
  s.dispatch(k, {in(x), in(gamma), in(beta), out(y)}, push, {push.rows, 1, 1}, op);
}

void softmax(Sequence& s, const Tensor& x, const Tensor& y, float scale) {
  const std::string op = "softmax";
  check(x.ndim() >= 1, op, "x " + shape_str(x.shape()) + " must be [..., L]");
  check_same_shape(op, x, y);
  check_same_dtype(op, x, y);
  check_fits(op, x);
  if (x.numel() == 0) return;
  Context& ctx = s.context();
  auto iterations = [&](uint32_t wg, bool) { return 3 * blocks(x.dim(-1), wg); };  // max, sum, output
  const Kernel& k = row_kernel(ctx, op, x, x.dim(-1), 2, {}, iterations);
  struct {
    uint32_t rows, l;
    float scale;
  } push{uint32_t(x.numel() / x.dim(-1)), uint32_t(x.dim(-1)), scale};
  s.dispatch(k, {in(x), out(y)}, push, {push.rows, 1, 1}, op);
}

namespace ref {
namespace {

// Shared by both norms: y = (x - mean) / sqrt(var + eps) * gamma[ch(i)] + beta[ch(i)] over
// x[first .. first+len), biased variance, all in double.
template <class Channel>
void normalise(const std::vector<float>& x, std::vector<float>& y, size_t first, size_t len, float eps,
               const std::vector<float>& gamma, const std::vector<float>& beta, Channel ch, bool silu) {
  double mean = 0, var = 0;
  for (size_t i = 0; i < len; i++) mean += x[first + i];
  mean /= double(len);
  for (size_t i = 0; i < len; i++) var += (x[first + i] - mean) * (x[first + i] - mean);
  var /= double(len);
  double rstd = 1.0 / std::sqrt(var + double(eps));
  for (size_t i = 0; i < len; i++) {
    size_t c = ch(i);
    double v = (x[first + i] - mean) * rstd * gamma[c] + beta[c];
    if (silu) v = v / (1.0 + std::exp(-v));
    y[first + i] = float(v);
  }
}

}  // namespace

std::vector<float> group_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t n, int64_t c, int64_t spatial, int groups,
                              float eps, bool silu) {
  std::vector<float> y(x.size());
  size_t cg = size_t(c / groups), len = cg * size_t(spatial);
  for (int64_t b = 0; b < n; b++)
    for (int g = 0; g < groups; g++) {
      size_t first = (size_t(b) * size_t(c) + size_t(g) * cg) * size_t(spatial);
      normalise(x, y, first, len, eps, gamma, beta, [&](size_t i) { return size_t(g) * cg + i / size_t(spatial); },
                silu);
    }
  return y;
}

std::vector<float> layer_norm(const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, int64_t c, float eps) {
  std::vector<float> y(x.size());
  for (size_t first = 0; first < x.size(); first += size_t(c))
    normalise(x, y, first, size_t(c), eps, gamma, beta, [](size_t i) { return i; }, false);
  return y;
}

std::vector<float> softmax(const std::vector<float>& x, int64_t l, float scale) {
  std::vector<float> y(x.size());
  for (size_t first = 0; first < x.size(); first += size_t(l)) {
    double m = -INFINITY, sum = 0;
    for (size_t i = 0; i < size_t(l); i++) m = std::max(m, double(scale) * x[first + i]);
    for (size_t i = 0; i < size_t(l); i++) sum += std::exp(double(scale) * x[first + i] - m);
    for (size_t i = 0; i < size_t(l); i++) y[first + i] = float(std::exp(double(scale) * x[first + i] - m) / sum);
  }
  return y;
}

}  // namespace ref
}  // namespace sdvk::ops
