#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Implicit-GEMM convolution, CPU-shaped: no shared memory, no barriers. Each invocation keeps an
// MB x NB register block (MB output channels x NB output pixels) of one image. The channel block
// comes from the work-group id, so weight loads are uniform (one scalar load on llvmpipe, shared
// by all SIMD lanes); pixels are interleaved across lanes so a vector of lanes reads neighbours.
#include "conv2d_common.glsl"

layout(local_size_x_id = 0) in;          // LS lanes along pixels
layout(constant_id = 1) const uint MB = 4;  // output channels per invocation
layout(constant_id = 2) const uint NB = 8;  // output pixels per invocation

void main() {
  const uint LS = gl_WorkGroupSize.x;
  const uint npix = p.ho * p.wo, hw = p.h * p.w, taps = p.kh * p.kw, K = p.cin * taps;
  const uint co0 = gl_WorkGroupID.y * MB, b = gl_WorkGroupID.z;
  const uint pix0 = gl_WorkGroupID.x * (LS * NB) + gl_LocalInvocationID.x;  // pixel j: pix0 + j*LS

  // Top-left input corner of each pixel's window (may be in the padding: negative).
  int iy0[NB], ix0[NB];
  for (uint j = 0; j < NB; j++) {
    uint pc = min(pix0 + j * LS, npix - 1);  // clamped: the tail computes a duplicate, never stored
    uint oy = pc / p.wo, ox = pc - oy * p.wo;
    iy0[j] = int(oy * p.sh) - int(p.pt);
    ix0[j] = int(ox * p.sw) - int(p.pl);
  }
  uint wrow[MB];  // weight row of each channel, clamped like the pixels
  for (uint i = 0; i < MB; i++) wrow[i] = min(co0 + i, p.cout - 1) * K;

  float acc[MB][NB];
  for (uint i = 0; i < MB; i++)
    for (uint j = 0; j < NB; j++) acc[i][j] = 0.0;

  const uint xb = b * p.cin * hw;
  // Taps outside, channels inside: the padding test and the address run once per tap.
  for (uint ky = 0; ky < p.kh; ky++) {
    for (uint kx = 0; kx < p.kw; kx++) {
      uint off[NB];
      float keep[NB];  // 0 in the zero padding: load a valid element and multiply it away
      for (uint j = 0; j < NB; j++) {
        int iy = iy0[j] + int(ky), ix = ix0[j] + int(kx);
        bool inside = iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
        off[j] = inside ? xb + uint(iy) * p.w + uint(ix) : xb;
        keep[j] = inside ? 1.0 : 0.0;
      }
      uint k = ky * p.kw + kx;  // weight column for ci = 0
      for (uint ci = 0; ci < p.cin; ci++, k += taps) {
        float xv[NB];
        for (uint j = 0; j < NB; j++) xv[j] = float(x[off[j] + ci * hw]) * keep[j];
        for (uint i = 0; i < MB; i++) {
          float wv = float(wt[wrow[i] + k]);
          for (uint j = 0; j < NB; j++) acc[i][j] += wv * xv[j];
        }
      }
    }
  }

  for (uint i = 0; i < MB; i++) {
    uint co = co0 + i;
    if (co >= p.cout) break;
    uint yb = (b * p.cout + co) * npix;
    for (uint j = 0; j < NB; j++) {
      uint pix = pix0 + j * LS;
      if (pix < npix) conv_store(yb + pix, co, acc[i][j]);
    }
  }
}
