// --precision, the storage type of weights and activations, for the commands that take it
// (generate, score, classify, index, search, component, bench, bench sd15). What each accepts and its default are stated
// once, in the table in precision_flag.cpp; the op layer never names the flag.
//   std::string p = take_precision(args);                       // the command's default if absent
//   ... other flags ...
//   Precision choice = check_precision(args.command(), p);      // Error naming --precision
//   DType dt = precision_dtype(choice, ctx);                    // once the device is known
#pragma once
#include <string>

#include "gen/cli.h"
#include "vk/context.h"
#include "vk/tensor.h"

namespace sdvk::cli {

enum class Precision { Auto, F32, F16, Both };

// The value of --precision for `args`' command, its default when the flag is absent.
std::string take_precision(Args& args);
// `value` as a Precision; Error "COMMAND: --precision VALUE: expected ..." when `command` does
// not accept it.
Precision check_precision(const std::string& command, const std::string& value);
// The storage type of Auto, F32 or F16 on this device: Auto is fp16 where the device stores 16-bit
// values (vk/precision.h); F16 on a device that cannot is an Error naming --precision.
DType precision_dtype(Precision precision, const Context& ctx);

}  // namespace sdvk::cli
