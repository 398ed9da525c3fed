#include "ops/attention.h"

#include <algorithm>
#include <cmath>

#include "ops/op_util.h"

namespace sdvk::ops {

namespace {

struct Push {
  uint32_t tq, tk, heads, head_dim, causal;
  float scale_log2e;  // the shaders take exp2 of scores pre-multiplied by log2(e)
};

bool overlaps(const Tensor& a, const Tensor& b) {
  return a.overlaps(b);
}

// GPU family (attention.comp): a workgroup of kGpuThreads owns BQ query rows; shared memory holds
// the Q block and the probabilities as [d or key][row] (4 rows to a vec4), one K or V tile of
// BK keys (K rows padded to BK+1 against bank conflicts) and the row statistics' partials
// (BQ rows x 512/BQ invocations each, 2 x 512 floats). Head dims round up to 8.
constexpr int64_t kGpuThreads = 128, kGpuRowsPerInvocation = 4;
uint32_t gpu_shared_bytes(uint32_t d, uint32_t bq, uint32_t bk) {
  return 4 * (d * bq + d * (bk + 1) + bk * bq + 2 * kGpuThreads * kGpuRowsPerInvocation);
}
uint32_t gpu_head_dim_slots(uint32_t d) { return (d + 7) / 8 * 8; }
uint32_t head_dim_slots(uint32_t d) { return (d + 31) / 32 * 32; }  // CPU family, see attention(): DMAX
AttentionTiles g_forced_tiles;  // {0, 0}: automatic

// lavapipe (llvmpipe) stops every loop of a shader invocation once all of its loops together
// have run 65535 iterations (LP_MAX_TGSI_LOOP_ITERATIONS, one counter shared by all loops): the
// output is then silently wrong. These count the loop iterations (plus one exit per loop) each
// kernel runs per invocation, so the CPU kernel can pick larger key blocks for long sequences and
// anything still over the limit is refused on llvmpipe rather than miscomputed.
constexpr int64_t kLlvmpipeLoopLimit = 65535;
int64_t cpu_loop_iterations(int64_t dv, int64_t tk, int64_t rows, int64_t kb) {
  return 2 * rows * (dv + 2) + (tk + kb - 1) / kb * (2 * (dv + 1) + 1) + 1;
}
int64_t gpu_loop_iterations(int64_t d, int64_t tk, int64_t bq, int64_t bk) {
  const int64_t staging = (bk * d + kGpuThreads - 1) / kGpuThreads + 1;
  const int64_t partials = 2 * kGpuRowsPerInvocation * (kGpuThreads * kGpuRowsPerInvocation / bq + 1);  // max, sum
  return (bq * d + kGpuThreads - 1) / kGpuThreads + 1 + (tk + bk - 1) / bk * (2 * staging + d + 1 + partials + bk + 2) + 1;
}

}  // namespace

AttentionTiles attention_gpu_tiles(const Context& ctx, uint32_t head_dim) {
  // Largest first: more rows share each K/V tile, more keys share each barrier.
  const AttentionTiles order[] = {{64, 64}, {64, 32}, {32, 32}, {32, 16}, {16, 16}, {16, 8}, {8, 8}};
  for (const AttentionTiles& t : order)
    if (gpu_shared_bytes(gpu_head_dim_slots(head_dim), t.bq, t.bk) <= ctx.info().max_shared_memory) return t;
  return order[std::size(order) - 1];  // attention() reports that it does not fit
}

std::vector<AttentionTiles> attention_gpu_tile_configs(const Context& ctx, uint32_t head_dim) {
  std::vector<AttentionTiles> out;
  for (uint32_t bq : {16u, 32u, 64u})
    for (uint32_t bk : {16u, 32u, 64u})
      if (gpu_shared_bytes(gpu_head_dim_slots(head_dim), bq, bk) <= ctx.info().max_shared_memory) out.push_back({bq, bk});
  AttentionTiles automatic = attention_gpu_tiles(ctx, head_dim);
  if (std::find(out.begin(), out.end(), automatic) == out.end()) out.push_back(automatic);
  return out;
}

void force_attention_gpu_tiles(AttentionTiles tiles) { g_forced_tiles = tiles; }

void attention(Sequence& s, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, int heads,
               bool causal, float scale) {
  const std::string op = "attention";
  auto shapes = [&] {
    return " (q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape()) + ", o " +
           shape_str(o.shape()) + ", heads " + std::to_string(heads) + ")";
  };
  check(q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3 && o.ndim() == 3, op, "q, k, v, o must be [B,T,H*D]" + shapes());
  const int64_t B = q.dim(0), Tq = q.dim(1), C = q.dim(2), Tk = k.dim(1);
  check(heads > 0 && C > 0 && C % heads == 0, op, "channels must split into heads" + shapes());
  check(k.shape() == Shape{B, Tk, C} && v.shape() == k.shape(), op, "k and v must be [B,Tk,H*D] like q" + shapes());
  check(o.shape() == q.shape(), op, "o must have q's shape" + shapes());
  check(B > 0 && Tq > 0 && Tk > 0, op, "empty batch or sequence" + shapes());
  check(!causal || Tq == Tk, op, "causal attention needs Tq == Tk" + shapes());
  check_same_dtype(op, q, k);
  check_same_dtype(op, q, v);
  check_same_dtype(op, q, o);
  check(!overlaps(o, q) && !overlaps(o, k) && !overlaps(o, v), op, "o must not overlap q, k or v");
  check(B * std::max(Tq, Tk) * C <= int64_t(UINT32_MAX), op, "more than 2^32 elements" + shapes());

  s.add_flops(4.0 * double(B) * double(Tq) * double(Tk) * double(C));  // q k^T and p v
  Context& ctx = s.context();
  const uint32_t D = uint32_t(C / heads);
  if (scale <= 0.0f) scale = float(1.0 / std::sqrt(double(D)));
  Push push{uint32_t(Tq), uint32_t(Tk), uint32_t(heads), D, causal, float(double(scale) * M_LOG2E)};
  std::vector<Arg> args = {in(q), in(k), in(v), out(o)};

  // Both families size their per-row arrays or shared tiles for a rounded-up head dim and read
  // the true one from the push constants: few pipelines, any head dim.
  const uint32_t dmax = head_dim_slots(D);
  const bool llvmpipe = ctx.info().name.find("llvmpipe") != std::string::npos;
  auto over_limit = [&](int64_t iterations) {
    return llvmpipe && iterations > kLlvmpipeLoopLimit;
  };
  auto refuse = [&] {
    throw Error("attention: " + std::to_string(Tk) + " keys at head dim " + std::to_string(D) +
                " exceed lavapipe's loop-iteration limit" + shapes());
  };
  // The CPU kernel shares K/V loads by subgroup shuffles (see attention_cpu.comp).
  if (ctx.cpu_kernels() &&
      compute_subgroups(ctx, 8, UINT32_MAX, VK_SUBGROUP_FEATURE_SHUFFLE_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT)) {
    // R query rows per invocation and KB keys per block (see attention_cpu.comp); R * KB fixes
    // the code size. Fewer, longer key blocks when the sequence would overrun llvmpipe's loops.
    const uint32_t vw = D % 4 == 0 ? 4 : 1;
    uint32_t R = 8, KB = 8;
    while (over_limit(cpu_loop_iterations(D / vw, Tk, R, KB)) && R > 2) R /= 2, KB *= 2;
    if (over_limit(cpu_loop_iterations(D / vw, Tk, R, KB))) refuse();
    const std::string name = variant(ctx, "attention_cpu", q.dtype()) + (vw == 4 ? "_v4" : "");
    const Kernel& kern = ctx.kernels().get(name, 4, {dmax / vw, R, KB});
    s.dispatch(kern, args, push, {groups_for((Tq + R - 1) / R, 64), uint32_t(heads), uint32_t(B)}, "attention");
    return;
  }
  const AttentionTiles tiles = g_forced_tiles.bq ? g_forced_tiles : attention_gpu_tiles(ctx, D);
  const uint32_t bq = tiles.bq, bk = tiles.bk, gpu_dmax = gpu_head_dim_slots(D);
  const bool rows_ok = bq >= 4 && bq <= kGpuThreads * kGpuRowsPerInvocation && (bq & (bq - 1)) == 0;
  check(rows_ok && bk >= 1, op, "tiles (" + std::to_string(bq) + ", " + std::to_string(bk) +
        "): query rows must be a power of two from 4 to 512");
  check(gpu_shared_bytes(gpu_dmax, bq, bk) <= ctx.info().max_shared_memory, op,
        "head dim " + std::to_string(D) + " with tiles (" + std::to_string(bq) + ", " + std::to_string(bk) +
            ") does not fit shared memory");
  if (over_limit(gpu_loop_iterations(D, Tk, bq, bk))) refuse();
  const Kernel& kern = ctx.kernels().get(variant(ctx, "attention", q.dtype()), 4, {gpu_dmax, bq, bk});
  s.dispatch(kern, args, push, {groups_for(Tq, bq), uint32_t(heads), uint32_t(B)}, "attention");
}

namespace ref {

std::vector<float> attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                             int64_t batch, int64_t tq, int64_t tk, int heads, int64_t head_dim, bool causal,
                             float scale, const std::vector<int64_t>& rows) {
  const int64_t C = heads * head_dim;
  std::vector<int64_t> rs = rows;
  if (rs.empty())
    for (int64_t i = 0; i < tq; i++) rs.push_back(i);
  const double sc = scale > 0 ? double(scale) : 1.0 / std::sqrt(double(head_dim));
  const int64_t nr = int64_t(rs.size());
  std::vector<float> out(size_t(batch * nr * C));
  std::vector<double> score(static_cast<size_t>(tk)), acc(static_cast<size_t>(head_dim));
  for (int64_t b = 0; b < batch; b++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t r = 0; r < nr; r++) {
        const int64_t i = rs[size_t(r)];
        const int64_t visible = causal ? i + 1 : tk;
        const float* qi = &q[size_t((b * tq + i) * C + h * head_dim)];
        double mx = -INFINITY;
        for (int64_t j = 0; j < visible; j++) {
          const float* kj = &k[size_t((b * tk + j) * C + h * head_dim)];
          double dot = 0;
          for (int64_t d = 0; d < head_dim; d++) dot += double(qi[d]) * double(kj[d]);
          score[size_t(j)] = sc * dot;
          mx = std::max(mx, score[size_t(j)]);
        }
        double sum = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < visible; j++) {
          const double e = std::exp(score[size_t(j)] - mx);
          sum += e;
          const float* vj = &v[size_t((b * tk + j) * C + h * head_dim)];
          for (int64_t d = 0; d < head_dim; d++) acc[size_t(d)] += e * double(vj[d]);
        }
        for (int64_t d = 0; d < head_dim; d++) out[size_t((b * nr + r) * C + h * head_dim + d)] = float(acc[size_t(d)] / sum);
      }
  return out;
}

}  // namespace ref
}  // namespace sdvk::ops
