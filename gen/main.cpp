// sdvk: text-guided diffusion image generation on Vulkan compute.
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/error.h"
#include "gen/cli.h"
#include "vk/device_selector_error.h"

namespace {

const char* kUsage =
    "usage: sdvk COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  generate             make images from a text prompt (sdvk generate --help)\n"
    "  devices              list Vulkan devices and their capabilities\n"
    "  bench                time the core ops at Stable Diffusion 1.5 shapes against the C++ reference\n"
    "  tokenize             print the token ids of a prompt (sdvk tokenize --help)\n"
    "  component KIND       run one network on named tensors from a file (sdvk component --help)\n"
    "  inspect FILE|DIR     format, model family, architecture and tensors of a checkpoint or folder\n"
    "  score IMAGES...      CLIP score of images against prompts, ranked (sdvk score --help)\n"
    "  classify IMAGES...   zero-shot labels of images with CLIP (sdvk classify --help)\n"
    "  index DIR...         embed the images under folders into a search index (sdvk index --help)\n"
    "  search \"TEXT\"        the indexed images nearest to a text or an image (sdvk search --help)\n"
    "\n"
    "common options:\n"
    "  --device N|NAME      Vulkan device by index or name substring (default: first discrete GPU,\n"
    "                       else integrated, else CPU; or the SDVK_DEVICE environment variable)\n"
    "environment: SDVK_VALIDATION=1 enables the Khronos validation layer; SDVK_NO_PIPELINE_CACHE=1\n"
    "             skips the on-disk pipeline cache (~/.cache/sdvk, or SDVK_CACHE_DIR)\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("sdvk %s\n", SDVK_VERSION);
    return 0;
  }
  std::string command = argv[1];
  sdvk::cli::Args args(command, std::vector<std::string>(argv + 2, argv + argc));
  try {
    if (command == "generate") return sdvk::cli::cmd_generate(args);
    if (command == "devices") return sdvk::cli::cmd_devices(args);
    if (command == "bench") return sdvk::cli::cmd_bench(args);
    if (command == "tokenize") return sdvk::cli::cmd_tokenize(args);
    if (command == "inspect") return sdvk::cli::cmd_inspect(args);
    if (command == "component") return sdvk::cli::cmd_component(args);
    if (command == "score") return sdvk::cli::cmd_score(args);
    if (command == "classify") return sdvk::cli::cmd_classify(args);
    if (command == "index") return sdvk::cli::cmd_index(args);
    if (command == "search") return sdvk::cli::cmd_search(args);
    std::fprintf(stderr, "error: unknown command '%s' (see sdvk --help)\n", command.c_str());
    return 2;
  } catch (const sdvk::DeviceSelectorError& e) {  // the selector came from --device or SDVK_DEVICE
    std::fprintf(stderr, "error: --device %s: %s\n", e.selector.c_str(), e.reason.c_str());
    return 1;
  } catch (const sdvk::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: %s: out of memory (a size in the request or the model is too large)\n", command.c_str());
    return 1;
  } catch (const std::exception& e) {
    // Every expected failure is an sdvk::Error; library text is not shown raw (it can be
    // kilobytes of untrusted input), only its first 200 bytes on one line.
    std::string what = std::string(e.what()).substr(0, 200);
    for (char& c : what)
      if (c == '\n' || c == '\r') c = ' ';
    std::fprintf(stderr, "error: %s: unexpected internal failure (%s)\n", command.c_str(), what.c_str());
    return 1;
  }
}
