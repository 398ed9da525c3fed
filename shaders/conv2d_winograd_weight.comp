#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Winograd F(4x4, 3x3), weight transform: U[36][cc][Kp] = G g G^T for each 3x3 filter g of
// output channels c0 .. c0+cc-1, stored float32 whatever the storage type.
// Channels ci >= Cin (up to the padded Kp) get zeros, so the GEMM can read whole units.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Wt { sfp wt[]; };  // [Cout, Cin, 3, 3]
layout(std430, binding = 1) writeonly buffer U { float u[]; };  // [36, cc, Kp]

layout(push_constant) uniform P {
  uint c0, cc;    // the output channels of this chunk
  uint cin, kp;   // input channels, padded to kp
} p;

void main() {
  const uint ci = gl_GlobalInvocationID.x, cl = gl_GlobalInvocationID.y, co = p.c0 + cl;
  if (ci >= p.kp || cl >= p.cc) return;
  const uint i = cl * p.kp + ci;
  float g[3][3];
  for (uint r = 0; r < 3; r++)
    for (uint c = 0; c < 3; c++) g[r][c] = ci < p.cin ? float(wt[(co * p.cin + ci) * 9 + r * 3 + c]) : 0.0;
  // G (6x3) rows: (1/4,0,0) (-1/6,-1/6,-1/6) (-1/6,1/6,-1/6) (1/24,1/12,1/6) (1/24,-1/12,1/6) (0,0,1)
  float t[6][3];  // G g
  for (uint c = 0; c < 3; c++) {
    float a = g[0][c], b = g[1][c], d = g[2][c];
    t[0][c] = a * 0.25;
    t[1][c] = -(a + b + d) / 6.0;
    t[2][c] = -(a - b + d) / 6.0;
    t[3][c] = a / 24.0 + b / 12.0 + d / 6.0;
    t[4][c] = a / 24.0 - b / 12.0 + d / 6.0;
    t[5][c] = d;
  }
  const uint plane = p.cc * p.kp;
  for (uint r = 0; r < 6; r++) {  // (G g) G^T
    float a = t[r][0], b = t[r][1], d = t[r][2];
    u[(r * 6 + 0) * plane + i] = a * 0.25;
    u[(r * 6 + 1) * plane + i] = -(a + b + d) / 6.0;
    u[(r * 6 + 2) * plane + i] = -(a - b + d) / 6.0;
    u[(r * 6 + 3) * plane + i] = a / 24.0 + b / 12.0 + d / 6.0;
    u[(r * 6 + 4) * plane + i] = a / 24.0 - b / 12.0 + d / 6.0;
    u[(r * 6 + 5) * plane + i] = d;
  }
}
