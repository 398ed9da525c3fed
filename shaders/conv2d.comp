#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_ballot : require
//! variant f32
//! variant f16 FP16=1
// Implicit-GEMM convolution, CPU-shaped: no shared memory, no barriers. Each invocation keeps an
// MB x NB register block: MB output channels x NB output pixels (pixels of the whole batch,
// interleaved across lanes so neighbouring lanes read neighbouring inputs).
//
// On llvmpipe every storage-buffer load is a loop over the SIMD lanes (~20 instructions a lane,
// even when all lanes read the same address), while a subgroup broadcast is a register shuffle.
// So the weights, the same for every lane, are loaded for 8 input channels at once, lane L
// holding channel ci0 + L, and broadcast from lane L when channel ci0 + L is summed: 1/MB input
// loads + 1/(8 NB) weight loads per FMA. Needs subgroups of >= 8 lanes with ballot operations
// (the host checks, else it uses conv2d_tiled).
#include "conv2d_common.glsl"

layout(local_size_x_id = 0) in;             // LS lanes along pixels
layout(constant_id = 1) const uint MB = 16;  // output channels per invocation
layout(constant_id = 2) const uint NB = 4;   // output pixels per invocation

// Adds input channel ci0 + L to the block: NB input loads, MB broadcasts, MB*NB FMAs.
#define CHANNEL_STEP(L)                                                                  \
  if (ci0 + L < p.cin) {                                                                 \
    float xv[NB];                                                                        \
    for (uint j = 0; j < NB; j++) xv[j] = float(x[off[j] + (ci0 + L) * hw]) * keep[j];   \
    for (uint i = 0; i < MB; i++) {                                                      \
      float wv = subgroupBroadcast(wl[i], L);                                            \
      for (uint j = 0; j < NB; j++) acc[i][j] += wv * xv[j];                             \
    }                                                                                    \
  }

void main() {
  const uint LS = gl_WorkGroupSize.x;
  const uint npix = p.ho * p.wo, total = p.batch * npix;
  const uint hw = p.h * p.w, taps = p.kh * p.kw, K = p.cin * taps;
  const uint co0 = gl_WorkGroupID.y * MB;
  const uint pix0 = gl_WorkGroupID.x * (LS * NB) + gl_LocalInvocationID.x;  // pixel j: pix0 + j*LS

  // Each pixel's image and the top-left corner of its input window (negative in the padding).
  uint xb[NB];
  int iy0[NB], ix0[NB];
  for (uint j = 0; j < NB; j++) {
    uint pc = min(pix0 + j * LS, total - 1);  // clamped: the tail computes a duplicate, never stored
    uint b = pc / npix, r = pc - b * npix, oy = r / p.wo, ox = r - oy * p.wo;
    xb[j] = b * p.cin * hw;
    iy0[j] = int(oy * p.sh) - int(p.pt);
    ix0[j] = int(ox * p.sw) - int(p.pl);
  }
  uint wrow[MB];  // weight row of each channel, clamped like the pixels
  for (uint i = 0; i < MB; i++) wrow[i] = min(co0 + i, p.cout - 1) * K;
  const uint lane = gl_SubgroupInvocationID % 8;

  float acc[MB][NB];
  for (uint i = 0; i < MB; i++)
    for (uint j = 0; j < NB; j++) acc[i][j] = 0.0;

  // Taps outside, channels inside: the padding test and the address run once per tap.
  for (uint ky = 0; ky < p.kh; ky++) {
    for (uint kx = 0; kx < p.kw; kx++) {
      uint off[NB];
      float keep[NB];  // 0 in the zero padding: load a valid element and multiply it away
      for (uint j = 0; j < NB; j++) {
        int iy = iy0[j] + int(ky), ix = ix0[j] + int(kx);
        bool inside = iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
        off[j] = xb[j] + (inside ? uint(iy) * p.w + uint(ix) : 0);
        keep[j] = inside ? 1.0 : 0.0;
      }
      const uint tap = ky * p.kw + kx;
      for (uint ci0 = 0; ci0 < p.cin; ci0 += 8) {
        float wl[MB];  // this lane's weights: input channel ci0 + lane, this tap
        const uint ci = min(ci0 + lane, p.cin - 1);
        for (uint i = 0; i < MB; i++) wl[i] = float(wt[wrow[i] + ci * taps + tap]);
        CHANNEL_STEP(0) CHANNEL_STEP(1) CHANNEL_STEP(2) CHANNEL_STEP(3)
        CHANNEL_STEP(4) CHANNEL_STEP(5) CHANNEL_STEP(6) CHANNEL_STEP(7)
      }
    }
  }

  for (uint j = 0; j < NB; j++) {
    uint pix = pix0 + j * LS;
    if (pix >= total) break;
    uint b = pix / npix, yb = b * p.cout * npix + (pix - b * npix);
    for (uint i = 0; i < MB; i++)
      if (co0 + i < p.cout) conv_store(yb + (co0 + i) * npix, co0 + i, acc[i][j]);
  }
}
