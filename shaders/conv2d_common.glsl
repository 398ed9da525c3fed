// Shared by the conv2d kernels: bindings, sizes and the fused epilogue.
// y[b,co,oy,ox] = act(sum_{ci,ky,kx} w[co,ci,ky,kx] * x[b,ci,oy*sh-pt+ky,ox*sw-pl+kx] + bias[co]) + res[...]
#ifndef SDVK_CONV2D_COMMON_GLSL
#define SDVK_CONV2D_COMMON_GLSL
#include "common.glsl"

layout(std430, binding = 0) readonly buffer X { sfp x[]; };     // [N,Cin,H,W]
layout(std430, binding = 1) readonly buffer Wt { sfp wt[]; };   // [Cout,Cin,kh,kw] = [M,K]
layout(std430, binding = 2) readonly buffer B { sfp bias[]; };  // [Cout] (read only with has_bias)
layout(std430, binding = 3) readonly buffer R { sfp res[]; };   // y's shape (read only with has_res)
layout(std430, binding = 4) writeonly buffer Y { sfp y[]; };    // [N,Cout,Ho,Wo]

layout(push_constant) uniform P {
  uint batch;          // images
  uint cin, h, w;      // input channels and size
  uint cout, ho, wo;   // output channels and size
  uint kh, kw;         // kernel size
  uint sh, sw;         // stride
  uint pt, pl;         // top and left padding (bottom/right padding only shows in ho, wo)
  // Epilogue switches: push constants rather than specialization constants, so one pipeline
  // serves every layer (each pipeline costs seconds of LLVM time on lavapipe).
  uint has_bias;       // bias[] holds Cout values
  uint act;            // 0 none, else 1 + ops::Activation
  uint has_res;        // res[] has y's shape
} p;

// Bias, activation, residual, in the order PyTorch applies them; `i` indexes y.
void conv_store(uint i, uint co, float acc) {
  if (p.has_bias != 0) acc += float(bias[co]);
  if (p.act == 1) acc = silu(acc);
  else if (p.act == 2) acc = gelu_erf(acc);
  else if (p.act == 3) acc = quick_gelu(acc);
  if (p.has_res != 0) acc += float(res[i]);
  y[i] = sfp(acc);
}

#endif
