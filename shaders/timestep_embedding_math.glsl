// Float32 helpers for timestep_embedding.comp that do not rely on the driver's exp/sin/cos
// (Vulkan allows 2.5 ulp for division and several ulp for exp; lavapipe's sin/cos are coarse
// approximations). Exact float steps are declared `precise` so they are neither fused into
// fma nor reassociated.
#ifndef SDVK_TIMESTEP_EMBEDDING_MATH_GLSL
#define SDVK_TIMESTEP_EMBEDDING_MATH_GLSL

// a * b = p + e exactly (Dekker's product with Veltkamp's split; no fma needed).
void two_prod(float a, float b, out float p, out float e) {
  precise float ca = 4097.0 * a, cb = 4097.0 * b;
  precise float ah = ca - (ca - a), bh = cb - (cb - b);
  precise float al = a - ah, bl = b - bh;
  precise float pp = a * b;
  precise float ee = ((ah * bh - pp) + ah * bl + al * bh) + al * bl;
  p = pp;
  e = ee;
}

// a + b = s + e exactly (Knuth's two-sum).
void two_sum(float a, float b, out float s, out float e) {
  precise float ss = a + b;
  precise float bv = ss - a;
  precise float ee = (a - (ss - bv)) + (b - bv);
  s = ss;
  e = ee;
}

// a / b rounded to nearest: the quotient corrected by its exact residual a - q*b.
float div_rn(float a, float b) {
  precise float q = a / b;
  float p, e;
  two_prod(q, b, p, e);
  precise float r = (a - p) - e;  // a - p is exact: p is within a few ulp of a
  precise float qc = q + r / b;
  return qc;
}

// exp(x) for |x| < 80, within ~2^-30 relative before the final rounding, so it equals the
// correctly rounded float except within 1/64 ulp of a rounding midpoint.
// x = k ln2 + h - lo, |h| <= ln2/2, with ln2 = LN2_HI + LN2_LO and k * LN2_HI exact.
float exp_rn(float x) {
  const float LN2_HI = 0.693145751953125;       // 15 significant bits
  const float LN2_LO = 1.428606765330187e-06;   // ln2 - LN2_HI
  float k = roundEven(x * 1.4426950408889634);
  precise float h = x - k * LN2_HI;             // exact
  precise float lo = k * LN2_LO;
  // exp(h) = 1 + h + h^2/2 + h^3 q(h), with h^2 kept exactly as (h2, h2e).
  float h2, h2e;
  two_prod(h, h, h2, h2e);
  h2 *= 0.5;
  h2e *= 0.5;
  precise float q = 1.0 / 6.0 + h * (1.0 / 24.0 + h * (1.0 / 120.0 + h * (1.0 / 720.0 + h * (1.0 / 5040.0 +
                    h * (1.0 / 40320.0)))));
  precise float tail = h * h2 * 2.0 * q;  // h^3 q, |tail| < 0.008
  float s, se, u, ue;
  two_sum(h, h2, s, se);
  two_sum(1.0, s, u, ue);
  // exp(h - lo) ~ exp(h) (1 - lo): |lo| < 1e-4 for |k| < 64 leaves lo^2/2 below 2^-30.
  precise float small = ((ue + se) + (h2e + tail)) - lo * (u + tail);  // lo * exp(h)
  precise float r = u + small;
  return ldexp(r, int(k));
}

// (sin(a), cos(a)) for |a| < 2^16 * pi/2: a = k pi/2 + r with pi/2 split in 8-bit pieces so each
// k * piece is exact (Cody-Waite), then Taylor series on |r| <= pi/4 (error below 2e-9).
vec2 sincos_accurate(float a) {
  const float P1 = 1.5703125, P2 = 4.825592041015625e-4, P3 = 1.2665987014770508e-6,
              P4 = 9.92093629470503e-10;
  float k = roundEven(a * 0.63661977236758134);
  precise float r = ((a - k * P1) - k * P2 - k * P3) - k * P4;
  float r2 = r * r;
  float s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0 +
            r2 * (-1.0 / 39916800.0)))));
  float c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 +
            r2 * (-1.0 / 3628800.0 + r2 * (1.0 / 479001600.0))))));
  switch (int(k) & 3) {
    case 0: return vec2(s, c);
    case 1: return vec2(c, -s);
    case 2: return vec2(-s, -c);
    default: return vec2(-c, s);
  }
}

#endif
