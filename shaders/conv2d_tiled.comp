#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Implicit-GEMM convolution, GPU-shaped: a 64x64 output tile (64 channels x 64 pixels of one
// image) per work group of 256 threads, each thread 4x4 outputs. Per 16-wide step of
// K = Cin*kh*kw the group stages a weight tile and a gathered input tile in shared memory.
#include "conv2d_common.glsl"

#define BM 64
#define BN 64
#define BK 16
layout(local_size_x = 256) in;

shared float As[BK][BM + 1];  // weights, k-major; +1 spreads the transposing stores over banks
shared float Bs[BK][BN];      // gathered input patches

void main() {
  const uint t = gl_LocalInvocationID.x, tx = t % 16, ty = t / 16;
  const uint npix = p.ho * p.wo, hw = p.h * p.w, taps = p.kh * p.kw, K = p.cin * taps;
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN, b = gl_WorkGroupID.z;  // image b
  const uint xb = b * p.cin * hw;

  // This thread always stages input column n = t % BN, rows k = t / BN + 4*r: decompose once.
  const uint bn = t % BN, bk = t / BN;
  const bool bn_ok = n0 + bn < npix;
  const uint oy = (n0 + bn) / p.wo, ox = (n0 + bn) - oy * p.wo;
  const int iy0 = int(oy * p.sh) - int(p.pt), ix0 = int(ox * p.sw) - int(p.pl);

  float acc[4][4];
  for (uint i = 0; i < 4; i++)
    for (uint j = 0; j < 4; j++) acc[i][j] = 0.0;

  for (uint k0 = 0; k0 < K; k0 += BK) {
    for (uint r = 0; r < 4; r++) {
      // weights: element e = t + 256 r of the BM x BK tile, consecutive threads along k
      uint e = t + 256 * r, ak = e % BK, am = e / BK;
      uint m = m0 + am, k = k0 + ak;
      float a = 0.0;
      if (m < p.cout && k < K) a = float(wt[m * K + k]);
      As[ak][am] = a;
      // input: row k of the patch matrix at column bn
      uint kr = bk + 4 * r;
      k = k0 + kr;
      uint ci = k / taps, tap = k - ci * taps, ky = tap / p.kw, kx = tap - ky * p.kw;
      int iy = iy0 + int(ky), ix = ix0 + int(kx);
      bool inside = bn_ok && k < K && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
      float v = 0.0;
      if (inside) v = float(x[xb + ci * hw + uint(iy) * p.w + uint(ix)]);
      Bs[kr][bn] = v;
    }
    barrier();
    for (uint kk = 0; kk < BK; kk++) {
      float a[4], v[4];
      for (uint i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
      for (uint j = 0; j < 4; j++) v[j] = Bs[kk][tx + 16 * j];
      for (uint i = 0; i < 4; i++)
        for (uint j = 0; j < 4; j++) acc[i][j] += a[i] * v[j];
    }
    barrier();
  }

  for (uint i = 0; i < 4; i++) {
    uint co = m0 + ty + 16 * i;
    if (co >= p.cout) break;
    uint yb = (b * p.cout + co) * npix;
    for (uint j = 0; j < 4; j++) {
      uint n = n0 + tx + 16 * j;
      if (n < npix) conv_store(yb + n, co, acc[i][j]);
    }
  }
}
