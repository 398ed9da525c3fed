// Seeded mutation fuzzing of the readers of untrusted input: the safetensors reader, the JSON
// config readers (component configs through WeightSet::load, scheduler configs), the image
// reader (PNG through libpng, JPEG and BMP through stb_image) and the prompt parser (with the
// A1111 record parser PNGs carry). Every mutant must be accepted or refused with sdvk::Error;
// any other exception fails the test, and a crash or a sanitizer report (SDVK_SANITIZE=ON)
// ends it. Each target runs for SDVK_FUZZ_SECONDS (default 1) from seed SDVK_FUZZ_SEED
// (default 1, so CI runs are reproducible). The input being tried is written to
// $TMPDIR/sdvk-fuzz-<target>-<pid>.* first, so a crash leaves it behind to reproduce with.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/json.h"
#include "image/image.h"
#include "image/parameters.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/weights.h"
#include "scheduler/scheduler.h"
#include "tests/support/cli_run.h"
#include "text_encoder/clip_tokenizer.h"
#include "text_encoder/prompt_weights.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

const std::string kData = SDVK_TEST_DATA;

double fuzz_seconds() {
  const char* s = std::getenv("SDVK_FUZZ_SECONDS");
  return s && *s ? std::atof(s) : 1.0;
}

uint64_t fuzz_seed() {
  const char* s = std::getenv("SDVK_FUZZ_SEED");
  return s && *s ? std::strtoull(s, nullptr, 10) : 1;
}

std::string read_file(const std::string& path) { return test::slurp(path); }

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Byte-level mutations, one to four per mutant: what a truncated download, a bit error or a
// hostile editor produces.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  size_t below(size_t n) { return n ? size_t(rng_() % n) : 0; }

  std::string mutate(std::string s, const std::vector<std::string>& dictionary) {
    for (size_t k = 0, n = 1 + below(4); k < n; k++) {
      const size_t at = below(s.size() + 1);
      switch (below(8)) {
        case 0:  // flip a bit
          if (!s.empty()) s[below(s.size())] ^= char(1 << below(8));
          break;
        case 1: {  // an interesting byte
          static const char kBytes[] = {0, '\x7f', '\x80', '\xff', '"', '{', '[', '-', '9'};
          if (!s.empty()) s[below(s.size())] = kBytes[below(sizeof kBytes)];
          break;
        }
        case 2:  // cut the end off
          s.resize(below(s.size() + 1));
          break;
        case 3:  // delete a range
          s.erase(at, 1 + below(16));
          break;
        case 4: {  // repeat a range
          std::string piece = s.substr(at, 1 + below(64));
          s.insert(below(s.size() + 1), piece);
          break;
        }
        case 5: {  // an interesting 32-bit integer, little-endian
          static const uint32_t kInts[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xffff, 65536};
          uint32_t v = kInts[below(std::size(kInts))];
          for (int i = 0; i < 4 && at + size_t(i) < s.size(); i++) s[at + size_t(i)] = char(v >> (8 * i));
          break;
        }
        default:  // a token of the format
          if (!dictionary.empty()) s.insert(at, dictionary[below(dictionary.size())]);
      }
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// Runs `attempt` on every seed as it is (the first must be accepted), then on mutants of them
// until the time is up. Only sdvk::Error may escape `attempt`.
void fuzz(const std::string& target, const std::vector<std::string>& seeds, const std::vector<std::string>& dictionary,
          const std::function<void(const std::string&)>& attempt) {
  ASSERT_FALSE(seeds.empty());
  Mutator m(fuzz_seed() ^ std::hash<std::string>()(target));
  size_t runs = 0, accepted = 0;
  // false when something other than sdvk::Error escaped (reported as a failure).
  const auto run = [&](const std::string& input) {
    runs++;
    try {
      attempt(input);
      accepted++;
    } catch (const Error&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << target << " input " << runs << ": " << typeid(e).name() << ": " << e.what();
      return false;
    }
    return true;
  };
  for (const std::string& seed : seeds) {
    if (!run(seed)) return;
    if (runs == 1) {
      ASSERT_EQ(accepted, 1u) << target << ": the first seed is refused";
    }
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(fuzz_seconds());
  while (std::chrono::steady_clock::now() < end)
    if (!run(m.mutate(seeds[m.below(seeds.size())], dictionary))) return;
  std::printf("fuzz %s: %zu inputs, %zu accepted\n", target.c_str(), runs, accepted);
}

std::string temp_path(const std::string& target, const std::string& ext) {
  return (fs::temp_directory_path() / ("sdvk-fuzz-" + target + "-" + std::to_string(::getpid()) + ext)).string();
}

// Reads every byte of every tensor, so a range outside the mapping would fault (or be
// reported by AddressSanitizer).
void touch_all(const SafetensorsFile& f) {
  volatile uint8_t sum = 0;
  for (const TensorInfo& t : f.tensors()) {
    for (size_t i = 0; i < t.size; i++) sum = sum + t.data[i];
    if (t.is_float()) to_f32(t);
  }
}

TEST(Fuzz, SafetensorsReader) {
  const std::string path = temp_path("safetensors", ".safetensors");
  std::vector<std::string> seeds;
  {
    std::vector<float> f32 = {1, -2, 3.5f, 0, 1e30f, -0.0f};
    std::vector<uint16_t> f16 = {0x3c00, 0x7c00, 0xfc00, 0x7e00};
    std::vector<int64_t> ids = {49406, 320, 49407};
    write_safetensors(path, {{"a.weight", FileDType::F32, {2, 3}, f32.data(), 24},
                             {"b", FileDType::F16, {4}, f16.data(), 8},
                             {"input_ids", FileDType::I64, {1, 3}, ids.data(), 24},
                             {"empty", FileDType::BF16, {0, 5}, nullptr, 0}},
                      {{"format", "pt"}});
    seeds.push_back(read_file(path));
  }
  seeds.push_back(read_file(kData + "/clip_tiny/io.safetensors"));
  // Header-aware mutants too: a field of the JSON header replaced by a hostile value, the
  // length prefix kept right, so the checks behind the JSON parser are reached.
  Mutator header_mutator(fuzz_seed());
  const std::vector<nlohmann::json> hostile = {-1, 0, 1, int64_t(1) << 62, uint64_t(-1), 1e300, "F64", "I8", "X",
                                               nlohmann::json::array(), nlohmann::json::array({0, 1 << 30}),
                                               nlohmann::json::array({-1, 2}), nlohmann::json::object(), nullptr};
  const auto rewrite_header = [&](const std::string& file) {
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= uint64_t(uint8_t(file[size_t(i)])) << (8 * i);
    nlohmann::json h = nlohmann::json::parse(file.substr(8, n));
    std::vector<std::string> names;
    for (auto& [k, _] : h.items()) names.push_back(k);
    nlohmann::json& entry = h[names[header_mutator.below(names.size())]];
    static const char* kFields[] = {"dtype", "shape", "data_offsets"};
    const char* field = kFields[header_mutator.below(3)];
    if (entry.is_object() && entry.contains(field) && entry[field].is_array() && !entry[field].empty() &&
        header_mutator.below(2))
      entry[field][header_mutator.below(entry[field].size())] = hostile[header_mutator.below(hostile.size())];
    else
      entry[field] = hostile[header_mutator.below(hostile.size())];
    std::string text = h.dump();
    std::string out(8, '\0');
    for (int i = 0; i < 8; i++) out[size_t(i)] = char(uint64_t(text.size()) >> (8 * i));
    return out + text + file.substr(8 + n);
  };
  for (int i = 0; i < 200; i++) seeds.push_back(rewrite_header(seeds[size_t(i) % 2]));
  fuzz("safetensors", seeds, {"\"", "{}", "[0, 4]", "\"F16\"", "\"shape\"", "\"data_offsets\"", "999999999999"},
       [&](const std::string& bytes) {
         write_file(path, bytes);
         SafetensorsFile f(path);
         touch_all(f);
       });
  fs::remove(path);
}

// A component folder whose config.json is the mutant and whose weights are the test model's.
void fuzz_component_config(const std::string& target, const std::string& model_dir) {
  test::TempDir dir("fuzz-" + target);
  for (auto& e : fs::directory_iterator(model_dir))
    if (e.path().filename() != "config.json" && e.path().filename() != "io.safetensors")
      fs::create_symlink(fs::absolute(e.path()), dir / e.path().filename().string());
  std::vector<std::string> seeds = {read_file(model_dir + "/config.json")};
  // Values replaced by hostile ones, key by key.
  nlohmann::json config = nlohmann::json::parse(seeds[0]);
  const std::vector<nlohmann::json> hostile = {-1, 0, 100000000, 1e308, -1e308, 0.5, "gelu", "", true,
                                               nlohmann::json::array(), nlohmann::json::array({1, 2, 3}), nullptr,
                                               uint64_t(-1)};
  size_t next = 0;
  for (auto& [key, _] : config.items())
    for (int k = 0; k < 3; k++) {
      nlohmann::json c = config;
      c[key] = hostile[next++ % hostile.size()];
      seeds.push_back(c.dump(2));
    }
  fuzz(target, seeds, {"\"", ",", "{", "}", "[", "]", ":", "1e999", "-0", "null", "18446744073709551616", "\\u0000"},
       [&](const std::string& text) {
         write_file(dir / "config.json", text);
         WeightSet::load(dir.path());
       });
}

TEST(Fuzz, UNetConfigReader) { fuzz_component_config("unet-config", kData + "/unet_sd1_tiny"); }
TEST(Fuzz, VaeConfigReader) { fuzz_component_config("vae-config", kData + "/vae_tiny"); }
TEST(Fuzz, ClipConfigReader) { fuzz_component_config("clip-config", kData + "/clip_tiny"); }

TEST(Fuzz, SchedulerConfigReader) {
  const std::vector<std::string> seeds = {read_file(kData + "/pipeline/tiny-sd/scheduler/scheduler_config.json"),
                                          R"({"_class_name": "DPMSolverMultistepScheduler", "solver_order": 2,
                                              "use_karras_sigmas": true, "beta_schedule": "linear",
                                              "trained_betas": null, "timestep_spacing": "trailing"})"};
  const auto& names = Scheduler::names();
  size_t pick = 0;
  fuzz("scheduler-config", seeds, {"\"", ",", "1e999", "-1", "0", "null", "[0.5, 0.1]", "\"squaredcos_cap_v2\""},
       [&](const std::string& text) {
         nlohmann::json c = parse_json_text(text.data(), text.size(), "scheduler_config.json");
         pick++;
         Scheduler::create(c, names[pick % names.size()])->set_timesteps(int(1 + pick % 30));
       });
}

// PNG chunks carry CRCs: recomputed after mutation, or libpng would refuse almost every mutant
// at the first check.
uint32_t crc32(const std::string& bytes, size_t begin, size_t end) {
  uint32_t c = 0xffffffffu;
  for (size_t i = begin; i < end; i++) {
    c ^= uint8_t(bytes[i]);
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void fix_png_crcs(std::string& png) {
  for (size_t at = 8; at + 12 <= png.size();) {
    uint32_t n = uint32_t(uint8_t(png[at])) << 24 | uint32_t(uint8_t(png[at + 1])) << 16 |
                 uint32_t(uint8_t(png[at + 2])) << 8 | uint8_t(png[at + 3]);
    if (n > png.size() - at - 12) return;
    uint32_t crc = crc32(png, at + 4, at + 8 + n);
    for (int i = 0; i < 4; i++) png[at + 8 + n + size_t(i)] = char(crc >> (24 - 8 * i));
    at += 12 + n;
  }
}

TEST(Fuzz, ImageReader) {
  const std::string png_path = temp_path("image", ".png"), other_path = temp_path("image", ".img");
  Image img{5, 3, 3, {}};
  for (int i = 0; i < 45; i++) img.pixels.push_back(uint8_t(i * 5));
  write_png(png_path, img, {{"parameters", "a cat\nSteps: 20, Seed: 1"}, {"Comment", "caf\xc3\xa9"}});
  const std::vector<std::string> seeds = {read_file(png_path), read_file(kData + "/clip_preprocess/palette_trns.png"),
                                          read_file(kData + "/clip_preprocess/grey.png"),
                                          read_file(kData + "/clip_preprocess/gradient.jpg"),
                                          read_file(kData + "/clip_preprocess/gradient.bmp")};
  fuzz("image", seeds, {"IHDR", "tEXt", "zTXt", "iTXt", "PLTE", "tRNS", "IDAT", "IEND", "\xff\xd8", "\xff\xc0", "BM"},
       [&](const std::string& bytes) {
         const bool png = bytes.compare(0, 4, "\x89PNG") == 0;
         std::string file = bytes;
         if (png) fix_png_crcs(file);
         write_file(png ? png_path : other_path, file);
         std::map<std::string, std::string> text;
         Image back = read_image(png ? png_path : other_path, &text);
         if (back.pixels.size() != size_t(back.width) * size_t(back.height) * 3) throw std::logic_error("pixel count");
         for (auto& [_, value] : text) parse_parameters(value);
       });
  fs::remove(png_path);
  fs::remove(other_path);
}

TEST(Fuzz, PromptParser) {
  const ClipTokenizer tokenizer(kData + "/clip_tokenizer");
  const std::vector<std::string> seeds = {
      "a photo of a cat", "(masterpiece:1.2), [blurry], ((sharp)) BREAK a dog", "\\(literal\\) (a:1.5.5) [x:0.5]",
      "caf\xc3\xa9 \xe2\x9c\xa8 \xf0\x9f\x90\x88, a, b, c", "",
      "a cat\nNegative prompt: ugly\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"};
  fuzz("prompt", seeds, {"(", ")", "[", "]", ":", ":1e308)", ":-1)", "\\", "BREAK", " BREAK ", ",", "\xc3", "\xf0\x9f"},
       [&](const std::string& prompt) {
         parse_parameters(prompt);
         for (const PromptWindow& w : encode_weighted_prompt(tokenizer, prompt))
           if (w.ids.size() != w.weights.size()) throw std::logic_error("ids and weights differ in length");
       });
}

}  // namespace
