#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_arithmetic : require
//! variant f32
//! variant f16 FP16=1
//! variant f32_v4 VEC4=1
//! variant f16_v4 FP16=1 VEC4=1
// Attention, CPU-shaped: each invocation owns R query rows of one (batch, head) and streams the
// keys past them in blocks of KB with an online softmax. No shared memory, no barriers.
//
// Why this shape on lavapipe: an invocation is one SIMD lane and every storage-buffer load is a
// scalar loop over the lanes, so each K/V element loaded must feed many rows (R per lane), and a
// block of KB keys shares each pass over the q rows and accumulators. The head dim is a push
// constant walked by a loop over arrays sized for DVMAX vectors: the unrolled code is R x KB
// whatever the head dim (fully unrolled D-wide code took llvmpipe seconds to compile), and one
// pipeline serves every head dim up to DVMAX * VW. Every lane needs the same K/V vectors, and
// llvmpipe would load them once per lane: lane l of each 8 loads key l of each 8 alone, and the
// others read it by shuffle (needs subgroups of >= 8 lanes in uniform control flow: no lane
// leaves early, and the key loop's bound is the subgroup's).
#include "common.glsl"

#ifdef VEC4  // head dim % 4 == 0: K and V rows are read 4 channels per load
#define VW 4
#define fvec vec4
#ifdef FP16  // 4 halves as two 32-bit words: half the per-lane load work of an f16vec4
#define sfpv uvec2
vec4 unpack4(uvec2 w) { return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y)); }
#define LOADV(w) unpack4(w)
#else
#define sfpv vec4
#define LOADV(w) w
#endif
#else
#define VW 1
#define fvec float
#define sfpv sfp
#define LOADV(w) float(w)
#endif

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint DVMAX = 16;  // largest head dim / VW this pipeline serves
layout(constant_id = 1) const uint R = 8;       // query rows per invocation
layout(constant_id = 2) const uint KB = 8;      // keys per block

layout(std430, binding = 0) readonly buffer Qb { sfp q[]; };
layout(std430, binding = 1) readonly buffer Kb { sfpv k[]; };
layout(std430, binding = 2) readonly buffer Vb { sfpv v[]; };
layout(std430, binding = 3) writeonly buffer Ob { sfp o[]; };
layout(push_constant) uniform P { uint tq, tk, heads, head_dim, causal; float scale_log2e; } p;

const float NEG = -3.0e38;  // masked score: exp2(NEG - m) == 0 without infinities

void main() {
  uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  uint D = p.head_dim, DV = D / VW, C = p.heads * D;
  uint row0 = gl_GlobalInvocationID.x * R;  // rows past Tq compute the last one, not stored
  const uint lane = gl_SubgroupInvocationID % 8;
  uint qbase = b * p.tq * C + h * D;            // q[b, 0, h*D] and o likewise
  uint kbase = (b * p.tk * C + h * D) / VW;     // k[b, 0, h*D] in VW-vectors

  fvec qr[R * DVMAX], acc[R * DVMAX];  // [R, DVMAX]: q rows times scale*log2(e); sums of P V
  float m[R], l[R];                    // running max (log2 units) and sum of exp2
  [[unroll]] for (uint r = 0; r < R; r++) {
    uint i = min(row0 + r, p.tq - 1);  // rows past Tq repeat the last one and are not stored
    for (uint dv = 0; dv < DV; dv++) {
      uint e = qbase + i * C + dv * VW;
#if VW == 4
      qr[r * DVMAX + dv] = vec4(q[e], q[e + 1], q[e + 2], q[e + 3]) * p.scale_log2e;
#else
      qr[r * DVMAX + dv] = float(q[e]) * p.scale_log2e;
#endif
      acc[r * DVMAX + dv] = fvec(0.0);
    }
    m[r] = NEG;
    l[r] = 0.0;
  }
  // Causal: no row of this subgroup sees past its last row (masked per row below).
  uint nk = p.causal != 0 ? min(subgroupMax(row0) + R, p.tk) : p.tk;
  for (uint j0 = 0; j0 < nk; j0 += KB) {
    uint krow[KB / 8];  // the keys this lane loads: lane + 8c; keys past nk repeat the last one, masked
    [[unroll]] for (uint c = 0; c < KB / 8; c++) krow[c] = kbase + min(j0 + 8 * c + lane, nk - 1) * (C / VW);
    float s[R * KB];  // [R, KB] scores, then probabilities
    [[unroll]] for (uint e = 0; e < R * KB; e++) s[e] = 0.0;
    for (uint dv = 0; dv < DV; dv++) {
      fvec mine[KB / 8], kv[KB];
      [[unroll]] for (uint c = 0; c < KB / 8; c++) mine[c] = LOADV(k[krow[c] + dv]);
      [[unroll]] for (uint jj = 0; jj < KB; jj++) kv[jj] = subgroupShuffle(mine[jj / 8], jj % 8);
      [[unroll]] for (uint r = 0; r < R; r++) {
        fvec qv = qr[r * DVMAX + dv];
        [[unroll]] for (uint jj = 0; jj < KB; jj++) s[r * KB + jj] += dot(qv, kv[jj]);
      }
    }
    float corr[R];  // exp2(old max - new max): rescales what was summed under the old max
    [[unroll]] for (uint r = 0; r < R; r++) {
      float mb = m[r];
      [[unroll]] for (uint jj = 0; jj < KB; jj++) {
        uint j = j0 + jj;
        if (j >= nk || (p.causal != 0 && j > row0 + r)) s[r * KB + jj] = NEG;
        mb = max(mb, s[r * KB + jj]);
      }
      corr[r] = exp2(m[r] - mb);
      m[r] = mb;
      float sum = 0.0;
      [[unroll]] for (uint jj = 0; jj < KB; jj++) {
        s[r * KB + jj] = exp2(s[r * KB + jj] - mb);
        sum += s[r * KB + jj];
      }
      l[r] = l[r] * corr[r] + sum;
    }
    for (uint dv = 0; dv < DV; dv++) {
      fvec mine[KB / 8], vv[KB];
      [[unroll]] for (uint c = 0; c < KB / 8; c++) mine[c] = LOADV(v[krow[c] + dv]);
      [[unroll]] for (uint jj = 0; jj < KB; jj++) vv[jj] = subgroupShuffle(mine[jj / 8], jj % 8);
      [[unroll]] for (uint r = 0; r < R; r++) {
        fvec a = acc[r * DVMAX + dv] * corr[r];
        [[unroll]] for (uint jj = 0; jj < KB; jj++) a += s[r * KB + jj] * vv[jj];
        acc[r * DVMAX + dv] = a;
      }
    }
  }
  [[unroll]] for (uint r = 0; r < R; r++) {
    uint i = row0 + r;
    if (i >= p.tq) break;
    float inv = 1.0 / l[r];
    for (uint dv = 0; dv < DV; dv++) {
      fvec a = acc[r * DVMAX + dv] * inv;
      uint e = qbase + i * C + dv * VW;
#if VW == 4
      o[e] = sfp(a.x);
      o[e + 1] = sfp(a.y);
      o[e + 2] = sfp(a.z);
      o[e + 3] = sfp(a.w);
#else
      o[e] = sfp(a);
#endif
    }
  }
}
