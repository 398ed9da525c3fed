#version 450
#extension GL_GOOGLE_include_directive : require
//! variant f32
//! variant f16 FP16=1
// Winograd F(4x4, 3x3), input transform: V = B^T d B for the 6x6 input patch d of the 4x4
// output tiles t0 .. t0+tc-1 (tiles of all images in one range) and every input channel, as
// V[36][Kp][tc] (tiles along the GEMM's columns) or, transposed, V[36][tc][Kp] (for few
// tiles: the GEMM's columns are then the output channels). Float32 out. Zero padding outside
// the image; padded channels and tiles (ci >= Cin, t >= T) get zeros.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { sfp x[]; };     // [N, Cin, H, W]
layout(std430, binding = 1) writeonly buffer V { float v[]; };  // [36, Kp, tc] or [36, tc, Kp]

layout(push_constant) uniform P {
  uint cin, h, w;    // input channels and size
  uint tiles_y, tiles_x, tiles;  // tiles per column / row, and T = N * tiles_y * tiles_x
  uint kp;           // padded channel count
  uint t0, tc;       // the tiles of this chunk
  uint pt, pl;       // top and left zero padding
  uint transposed;   // V[36][tc][Kp], invocations x along channels, y along tiles
} p;

// B^T (6x6) applied to a column of 6 values, in place.
void bt6(inout float d[6]) {
  float d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3], d4 = d[4], d5 = d[5];
  d[0] = 4.0 * d0 - 5.0 * d2 + d4;
  d[1] = -4.0 * (d1 + d2) + d3 + d4;
  d[2] = 4.0 * (d1 - d2) - d3 + d4;
  d[3] = -2.0 * (d1 - d3) - d2 + d4;
  d[4] = 2.0 * (d1 - d3) - d2 + d4;
  d[5] = 4.0 * d1 - 5.0 * d3 + d5;
}

void main() {
  const bool tr = p.transposed != 0;
  const uint tl = tr ? gl_GlobalInvocationID.y : gl_GlobalInvocationID.x;
  const uint ci = tr ? gl_GlobalInvocationID.x : gl_GlobalInvocationID.y, t = p.t0 + tl;
  if (tl >= p.tc || ci >= p.kp) return;
  float d[6][6];
  const bool live = t < p.tiles && ci < p.cin;
  const uint per_image = p.tiles_y * p.tiles_x;
  const uint n = live ? t / per_image : 0, r = t - n * per_image;
  const uint ty = r / p.tiles_x, tx = r - ty * p.tiles_x;
  const int y0 = int(ty * 4) - int(p.pt), x0 = int(tx * 4) - int(p.pl);
  const uint base = (n * p.cin + ci) * p.h * p.w;
  for (uint i = 0; i < 6; i++)
    for (uint j = 0; j < 6; j++) {
      int iy = y0 + int(i), ix = x0 + int(j);
      bool inside = live && iy >= 0 && iy < int(p.h) && ix >= 0 && ix < int(p.w);
      d[i][j] = inside ? float(x[base + uint(iy) * p.w + uint(ix)]) : 0.0;
    }
  for (uint j = 0; j < 6; j++) {  // B^T d: columns
    float c[6] = float[6](d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]);
    bt6(c);
    for (uint i = 0; i < 6; i++) d[i][j] = c[i];
  }
  const uint plane = p.kp * p.tc, i0 = tr ? tl * p.kp + ci : ci * p.tc + tl;
  for (uint i = 0; i < 6; i++) {  // (B^T d) B: rows
    float c[6] = float[6](d[i][0], d[i][1], d[i][2], d[i][3], d[i][4], d[i][5]);
    bt6(c);
    for (uint j = 0; j < 6; j++) v[(i * 6 + j) * plane + i0] = c[j];
  }
}
