// Workgroup reductions for the norm and softmax shaders: each invocation passes its partial and
// every invocation gets the workgroup's total. Call from uniform control flow (they may barrier).
// The workgroup is 1-D (local_size_x_id = 0).
//   CPU=1  the CPU family: the workgroup is normally one subgroup (lavapipe: 8 SIMD lanes), so
//          a subgroup reduction finishes it with no shared memory and no barrier. When it holds
//          several (very long rows, or a device that splits it), their partials meet in
//          shared memory.
//   else   the GPU family: shared-memory tree over gl_WorkGroupSize.x (a power of two)
//          invocations; needs no subgroup support.
#ifndef SDVK_NORM_REDUCE_GLSL
#define SDVK_NORM_REDUCE_GLSL

layout(local_size_x_id = 0) in;

shared float red_s[gl_WorkGroupSize.x];

#ifdef CPU
#extension GL_KHR_shader_subgroup_arithmetic : require

// Partials of several subgroups: one per subgroup in red_s, summed in a fixed order by all.
float combine_subgroups(float v, bool is_max) {
  barrier();  // earlier readers of red_s are done
  if (subgroupElect()) red_s[gl_SubgroupID] = v;
  barrier();
  float t = red_s[0];
  for (uint i = 1; i < gl_NumSubgroups; i++) t = is_max ? max(t, red_s[i]) : t + red_s[i];
  return t;
}

float wg_sum(float v) {
  v = subgroupAdd(v);
  return gl_NumSubgroups == 1 ? v : combine_subgroups(v, false);
}

float wg_max(float v) {
  v = subgroupMax(v);
  return gl_NumSubgroups == 1 ? v : combine_subgroups(v, true);
}

#else

float wg_reduce(float v, bool is_max) {
  uint l = gl_LocalInvocationID.x;
  barrier();  // earlier readers of red_s[0] are done
  red_s[l] = v;
  barrier();
  for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
    if (l < h) red_s[l] = is_max ? max(red_s[l], red_s[l + h]) : red_s[l] + red_s[l + h];
    barrier();
  }
  return red_s[0];
}

float wg_sum(float v) { return wg_reduce(v, false); }
float wg_max(float v) { return wg_reduce(v, true); }

#endif
#endif
