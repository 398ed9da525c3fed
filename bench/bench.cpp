// `sdvk bench`: placeholder until the op library lands (see README).
#include "gen/cli.h"
#include "vk/error.h"

namespace sdvk::cli {
int cmd_bench(Args& args) { throw Error("bench: not implemented yet"); }
}  // namespace sdvk::cli
