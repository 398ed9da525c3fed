#include "ops/matmul.h"

#include "ops/op_util.h"

namespace sdvk::ops {
namespace {

// Outputs per workgroup of each kernel family (see shaders/matmul.comp, matmul_tiled.comp):
// the CPU kernel's TM rows x (8 invocations x TN columns) for b [N,K] and, _kn, for b [K,N].
constexpr int64_t kCpuRows = 8, kCpuCols = 8 * 8, kCpuKnRows = 16, kCpuKnCols = 8 * 4;
constexpr int64_t kGpuTile = 64;

// One product c[z] = epilogue(alpha * a[z] @ bt[z] + bias) for z < batch, with sizes in elements.
struct Problem {
  int64_t batch, M, N, K;
  bool trans_b;
  float alpha;
  bool shared_a = false;   // every z reads the one a (a 1x1 convolution's weight)
  bool bias_rows = false;  // bias[m] rather than bias[n]
};

bool overlap(const Tensor& x, const Tensor& y) {
  return x.overlaps(y);
}

// Whether vector loads of `unit` elements may read t's rows of length `row`: the rows and the
// buffer start must fall on whole units.
bool vec_ok(const Tensor& t, int64_t row, int64_t unit) {
  return row % unit == 0 && t.aligned_to(unit * dtype_bytes(t.dtype()));
}

// The CPU kernel reads 64-bit words and shares a's loads by subgroup shuffles within its
// workgroup of 8, which must be one subgroup; else the tiled kernel serves.
bool cpu_kernel_supported(const Context& ctx) {
  VkPhysicalDeviceFeatures f;
  vkGetPhysicalDeviceFeatures(ctx.physical_device(), &f);
  return f.shaderInt64 && compute_subgroups(ctx, 8, UINT32_MAX, VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
}

void record(Sequence& s, const std::string& op, const Tensor& a, const Tensor& b, const Tensor* bias,
            const Epilogue& ep, const Tensor& c, const Problem& pr) {
  for (const Tensor* t : {&a, &b, bias, ep.residual, &c})
    if (t) check(t->numel() <= int64_t(UINT32_MAX), op, "tensor " + shape_str(t->shape()) + " over 2^32 elements");
  s.add_flops(2.0 * double(pr.batch) * double(pr.M) * double(pr.N) * double(pr.K));
  Context& ctx = s.context();
  bool cpu = ctx.cpu_kernels() && cpu_kernel_supported(ctx);
  // Vector loads (see the shaders) read units of 8 elements in the CPU kernel (4 for b [K,N]), 4
  // in the tiled one.
  int64_t unit = cpu ? 8 : 4, b_unit = cpu && !pr.trans_b ? 4 : unit;
  bool vec_a = vec_ok(a, pr.K, unit), vec_b = vec_ok(b, pr.trans_b ? pr.K : pr.N, b_unit);
  std::vector<uint32_t> spec = {pr.trans_b, vec_a, vec_b};
  uint32_t flags = (bias ? 1u : 0u) | (ep.residual ? 2u : 0u) | (pr.bias_rows ? 4u : 0u) |
                   (ep.has_activation ? (1 + uint32_t(ep.activation)) << 3 : 0u);  // matmul_io.glsl
  const bool kn = cpu && !pr.trans_b;
  const std::string name =
      cpu ? variant(ctx, "matmul", c.dtype()) + (kn ? "_kn" : "") : variant(ctx, "matmul_tiled", c.dtype());
  const Kernel& k = ctx.kernels().get(name, 5, spec);
  struct {
    uint32_t M, N, K, sa, sb, sc;
    float alpha;
    uint32_t flags;
  } push{uint32_t(pr.M), uint32_t(pr.N), uint32_t(pr.K), uint32_t(pr.batch > 1 && !pr.shared_a ? pr.M * pr.K : 0),
         uint32_t(pr.batch > 1 ? pr.N * pr.K : 0), uint32_t(pr.batch > 1 ? pr.M * pr.N : 0), pr.alpha, flags};
  Groups g = kn    ? Groups{groups_for(pr.M, kCpuKnRows), groups_for(pr.N, kCpuKnCols), uint32_t(pr.batch)}
             : cpu ? Groups{groups_for(pr.M, kCpuRows), groups_for(pr.N, kCpuCols), uint32_t(pr.batch)}
                 : Groups{groups_for(pr.N, kGpuTile), groups_for(pr.M, kGpuTile), uint32_t(pr.batch)};
  // Absent bias / residual bindings get a (never read) stand-in.
  s.dispatch(k, {in(a), in(b), in(bias ? *bias : a), in(ep.residual ? *ep.residual : a), out(c)}, push, g, op);
}

// What linear and pointwise_conv check alike once the shapes fit: one dtype for all, bias
// [bias_size], a residual of y's shape that is y itself or apart from it, y apart from the inputs.
void check_operands(const std::string& op, const std::string& shapes, const Tensor& x, const Tensor& weight,
                    const Tensor* bias, int64_t bias_size, const Epilogue& ep, const Tensor& y) {
  check_same_dtype(op, x, weight);
  check_same_dtype(op, x, y);
  if (bias) {
    check(bias->shape() == Shape{bias_size}, op, "bias " + shape_str(bias->shape()) + " for " + shapes);
    check_same_dtype(op, x, *bias);
  }
  if (ep.residual) {
    check_same_shape(op, *ep.residual, y);
    check_same_dtype(op, x, *ep.residual);
    check(ep.residual->same_start(y) || !overlap(*ep.residual, y), op, "residual partly overlaps y");
  }
  check(!overlap(y, x) && !overlap(y, weight) && !(bias && overlap(y, *bias)), op, "y overlaps an input");
}

}  // namespace

void linear(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
            const Epilogue& ep, WeightLayout layout) {
  const std::string op = "linear";
  const bool out_in = layout == WeightLayout::OutIn;
  const std::string weight_want = out_in ? "weight [N, K]" : "weight [K, N]";
  std::string shapes = "x " + shape_str(x.shape()) + ", weight " + shape_str(weight.shape()) + ", y " +
                       shape_str(y.shape());
  check(x.ndim() >= 1 && weight.ndim() == 2, op, "want x [..., K] and " + weight_want + ", got " + shapes);
  int64_t N = weight.dim(out_in ? 0 : 1), K = weight.dim(out_in ? 1 : 0);
  Shape want = x.shape();
  want.back() = N;
  check(x.dim(-1) == K && y.shape() == want, op, "want x [..., K], " + weight_want + ", y [..., N], got " + shapes);
  check(x.numel() > 0 && N > 0, op, "empty operand: " + shapes);
  check_operands(op, shapes, x, weight, bias, N, ep, y);
  record(s, op, x, weight, bias, ep, y, Problem{1, x.numel() / K, N, K, out_in, 1.0f});
}

void pointwise_conv(Sequence& s, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor& y,
                    const Epilogue& ep, const std::string& op) {
  const std::string shapes = "x " + shape_str(x.shape()) + ", weight " + shape_str(weight.shape()) + ", y " +
                             shape_str(y.shape());
  check(x.ndim() == 3 && weight.ndim() == 2 && y.ndim() == 3 && weight.dim(1) == x.dim(1) &&
            y.shape() == Shape{x.dim(0), weight.dim(0), x.dim(2)},
        op, "want x [B,K,P], weight [M,K], y [B,M,P], got " + shapes);
  check(x.numel() > 0 && weight.numel() > 0, op, "empty operand: " + shapes);
  check_operands(op, shapes, x, weight, bias, weight.dim(0), ep, y);
  Problem pr{x.dim(0), weight.dim(0), x.dim(2), x.dim(1), false, 1.0f};
  pr.shared_a = pr.bias_rows = true;
  record(s, op, weight, x, bias, ep, y, pr);
}

void batched_matmul(Sequence& s, const Tensor& a, const Tensor& b, bool transpose_b, const Tensor& c, float alpha) {
  const std::string op = "batched_matmul";
  std::string shapes = "a " + shape_str(a.shape()) + ", b " + shape_str(b.shape()) + (transpose_b ? "^T" : "") +
                       ", c " + shape_str(c.shape());
  check(a.ndim() == 3 && b.ndim() == 3 && c.ndim() == 3, op, "want 3-d tensors, got " + shapes);
  int64_t B = a.dim(0), M = a.dim(1), K = a.dim(2), N = transpose_b ? b.dim(1) : b.dim(2);
  check(b.shape() == (transpose_b ? Shape{B, N, K} : Shape{B, K, N}) && c.shape() == Shape{B, M, N}, op,
        "want a [B,M,K], b " + std::string(transpose_b ? "[B,N,K]" : "[B,K,N]") + ", c [B,M,N], got " + shapes);
  check(a.numel() > 0 && b.numel() > 0, op, "empty operand: " + shapes);
  check_same_dtype(op, a, b);
  check_same_dtype(op, a, c);
  check(!overlap(c, a) && !overlap(c, b), op, "c overlaps an input");
  record(s, op, a, b, nullptr, {}, c, Problem{B, M, N, K, transpose_b, alpha});
}

namespace ref {

std::vector<float> linear(const std::vector<float>& x, const std::vector<float>& weight,
                          const std::vector<float>& bias, int64_t M, int64_t K, int64_t N,
                          std::optional<Activation> act, const std::vector<float>& residual) {
  std::vector<float> y(size_t(M * N));
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      double sum = bias.empty() ? 0.0 : bias[size_t(n)];
      for (int64_t k = 0; k < K; k++) sum += double(x[size_t(m * K + k)]) * weight[size_t(n * K + k)];
      double v = act ? activation(*act, float(sum)) : sum;
      if (!residual.empty()) v += residual[size_t(m * N + n)];
      y[size_t(m * N + n)] = float(v);
    }
  return y;
}

std::vector<float> batched_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t B,
                                  int64_t M, int64_t K, int64_t N, bool transpose_b, float alpha) {
  std::vector<float> c(size_t(B * M * N));
  for (int64_t z = 0; z < B; z++)
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        double sum = 0;
        for (int64_t k = 0; k < K; k++) {
          double bv = transpose_b ? b[size_t((z * N + n) * K + k)] : b[size_t((z * K + k) * N + n)];
          sum += double(a[size_t((z * M + m) * K + k)]) * bv;
        }
        c[size_t((z * M + m) * N + n)] = float(double(alpha) * sum);
      }
  return c;
}

}  // namespace ref
}  // namespace sdvk::ops
