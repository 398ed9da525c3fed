// The per-op GPU time table `component --profile` and `bench sd15 --profile` print.
#pragma once
#include "vk/sequence.h"

namespace sdvk::cli {

// GPU time per op label (summed over the dispatches of that kind), largest first, and the
// activation arena; a line saying so when the device has no timestamp queries.
void print_profile(const Sequence& s);

}  // namespace sdvk::cli
