#include "ops/group_norm.h"

#include <algorithm>

#include "ops/norm_rows.h"
#include "ops/op_util.h"

namespace sdvk::ops {

using namespace norm_rows;

namespace {

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
  check_rows(op, x, y);
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

namespace ref {

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

}  // namespace ref
}  // namespace sdvk::ops
