// Shared by matmul.comp (register-blocked) and matmul_tiled.comp (shared-memory tiles):
// the buffers, sizes, flags and the epilogue of
//   c[z][m][n] = act(alpha * sum_k a[z][m][k] * bt[z][k][n] + bias[n or m]) + res[z][m][n]
// with bt[k][n] = TRANS_B ? b[n][k] : b[k][n]. Arithmetic in float whatever the storage.
#ifndef SDVK_MATMUL_IO_GLSL
#define SDVK_MATMUL_IO_GLSL

// What changes the inner loop is a specialization constant; the epilogue is chosen at run
// time (push constant `flags`), so one pipeline serves every epilogue.
layout(constant_id = 0) const bool TRANS_B = false;  // b is [N,K] (a weight as checkpoints store it)
layout(constant_id = 1) const bool VEC_A = false;    // a rows may be read as vectors (see kernel)
layout(constant_id = 2) const bool VEC_B = false;    // b rows likewise

layout(std430, binding = 0) readonly buffer A { sfp a[]; };
layout(std430, binding = 1) readonly buffer B { sfp b[]; };
layout(std430, binding = 2) readonly buffer Bias { sfp bias[]; };
layout(std430, binding = 3) readonly buffer Res { sfp res[]; };  // may be c itself
layout(std430, binding = 4) writeonly buffer C { sfp c[]; };

// flags: bias (indexed by column, or by row with BIAS_ROWS), residual, activation << ACT_SHIFT
const uint HAS_BIAS = 1, HAS_RES = 2, BIAS_ROWS = 4, ACT_SHIFT = 3;

// Sizes in elements; sa, sb, sc: elements between batch entries (0 for one batch).
// act: 0 none, else 1 + ops::Activation.
layout(push_constant) uniform P {
  uint M, N, K;
  uint sa, sb, sc;
  float alpha;
  uint flags;
} p;

// c[i] for output row m, column n; `s` is the plain sum over k.
void store_c(uint i, uint m, uint n, float s) {
  float v = p.alpha * s;
  if ((p.flags & HAS_BIAS) != 0) v += float(bias[(p.flags & BIAS_ROWS) != 0 ? m : n]);
  uint act = p.flags >> ACT_SHIFT;
  if (act == 1) v = silu(v);
  else if (act == 2) v = gelu_erf(v);
  else if (act == 3) v = quick_gelu(v);
  if ((p.flags & HAS_RES) != 0) v += float(res[i]);
  c[i] = sfp(v);
}

#endif
