// `sdvk bench`: time each case on the device (median of --runs replays) and its C++ reference.
#include "bench/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sys/resource.h>

#include "core/error.h"
#include "gen/cli.h"
#include "gen/precision_flag.h"

namespace sdvk::cli {
namespace {

const char* kBenchUsage =
    "usage: sdvk bench sd15 ...   (SD 1.5-sized networks with random weights; sdvk bench sd15 --help)\n"
    "usage: sdvk bench sdxl ...   (SDXL-sized networks with random weights; sdvk bench sdxl --help)\n"
    "       sdvk bench [--device D] [--precision fp32|fp16|both] [--runs N] [--only TEXT]\n"
    "                  [--kernels auto|cpu|gpu] [--no-reference]\n"
    "Times the core ops at Stable Diffusion 1.5 shapes on the device (median of N replays of\n"
    "one recording, default 3) and the plain C++ reference once on the same shapes, printing\n"
    "ms, GFLOP/s (or GB/s for memory-bound ops) and the device/reference speed ratio. `cpu ms`\n"
    "is the process CPU time per replay: on a CPU device (lavapipe) the device's own work.\n";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Process CPU time: on lavapipe the device's worker threads run in this process, so this is
// the work the device did, a figure that holds up when other programs share the cores.
double cpu_seconds() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + double(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

std::string rate(const bench::Case& c, uint64_t element_bytes, double seconds) {
  char buf[32];
  double work = c.bytes ? c.work * double(element_bytes) : c.work;
  snprintf(buf, sizeof buf, "%.2f %s", work / seconds * 1e-9, c.bytes ? "GB/s" : "GFLOP/s");
  return buf;
}

}  // namespace

int cmd_bench_sd15(Args& args);  // bench/sd_networks.cpp
int cmd_bench_sdxl(Args& args);

int cmd_bench(Args& args) {
  if (!args.rest().empty() && (args.rest().front() == "sd15" || args.rest().front() == "sdxl")) {
    const std::string family = args.rest().front();
    Args sub("bench " + family, std::vector<std::string>(args.rest().begin() + 1, args.rest().end()));
    return family == "sd15" ? cmd_bench_sd15(sub) : cmd_bench_sdxl(sub);
  }
  if (args.take_flag("--help")) {
    std::fputs(kBenchUsage, stdout);
    return 0;
  }
  ContextOptions opt;
  opt.device = args.take("--device");
  std::string precision = take_precision(args);
  int runs = args.take_int("--runs", 3, 1, 1000);
  std::string only = args.take("--only");
  std::string kernels = args.take("--kernels", "auto");
  bool reference = !args.take_flag("--no-reference");
  args.expect_empty();
  const Precision choice = check_precision(args.command(), precision);
  if (kernels == "cpu") opt.kernels = KernelFamily::Cpu;
  else if (kernels == "gpu") opt.kernels = KernelFamily::Gpu;
  else if (kernels != "auto") throw Error("bench: --kernels " + kernels + ": expected auto, cpu or gpu");

  Context ctx(opt);
  std::vector<DType> dtypes;
  if (choice != Precision::F16) dtypes.push_back(DType::F32);
  if (choice != Precision::F32 && ctx.info().fp16_storage) dtypes.push_back(DType::F16);
  std::printf("device: %s (%s), kernels: %s, runs: %d\n", ctx.info().name.c_str(),
              device_class_name(ctx.info().device_class), ctx.cpu_kernels() ? "cpu" : "gpu", runs);
  std::printf("%-34s %-5s %9s %9s %15s %10s %15s %8s\n", "op", "dtype", "ms", "cpu ms", "rate", "ref ms", "ref rate",
              "speedup");

  for (auto& c : bench::sd15_cases(ctx)) {
    if (!only.empty() && c.name.find(only) == std::string::npos) continue;
    double ref_s = 0;
    if (reference && c.reference) {
      auto t0 = std::chrono::steady_clock::now();
      c.reference();
      ref_s = seconds_since(t0);
    }
    for (DType dt : dtypes) {
      Sequence s(ctx);
      c.record(s, dt);
      s.run();  // warm-up: places temporaries, records, first-touch costs
      std::vector<double> times;
      double cpu0 = cpu_seconds();
      for (int i = 0; i < runs; i++) {
        auto t0 = std::chrono::steady_clock::now();
        s.run();
        times.push_back(seconds_since(t0));
      }
      double cpu = (cpu_seconds() - cpu0) / runs;
      std::sort(times.begin(), times.end());
      double t = times[times.size() / 2];
      std::printf("%-34s %-5s %9.2f %9.2f %15s", c.name.c_str(), dt == DType::F32 ? "f32" : "f16", t * 1e3, cpu * 1e3,
                  rate(c, dtype_bytes(dt), t).c_str());
      if (ref_s > 0)
        std::printf(" %10.1f %15s %7.1fx\n", ref_s * 1e3, rate(c, 4, ref_s).c_str(), ref_s / t);
      else
        std::printf(" %10s %15s %8s\n", "-", "-", "-");
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace sdvk::cli
