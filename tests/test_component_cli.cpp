// `sdvk component`: the CLI runs a network from a model path on named inputs and writes named
// outputs that match the goldens; bad input is a one-line error with nothing written.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "tests/support/cli_run.h"
#include "tests/support/vk_test.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

const std::string kData = SDVK_TEST_DATA;

// sdvk ARGS with the validation layer on (tests/support/cli_run.h).
int run_cli(const std::string& args, std::string* stderr_text = nullptr, std::string* stdout_text = nullptr) {
  test::CliResult r = test::run_cli(args);
  if (stderr_text) *stderr_text = r.err;
  if (stdout_text) *stdout_text = r.out;
  return r.exit_code;
}

std::vector<float> tensor(const std::string& file, const std::string& name) {
  SafetensorsFile f(file);
  const TensorInfo* t = f.find(name);
  if (!t) throw std::runtime_error(file + " lacks " + name);
  return to_f32(*t);
}

struct ComponentCase {
  const char* kind;
  const char* model;
  const char* output;
};

class ComponentCli : public ::testing::TestWithParam<ComponentCase> {};

TEST_P(ComponentCli, Float32MatchesGolden) {
  const auto& c = GetParam();
  std::string io = kData + "/" + c.model + "/io.safetensors";
  fs::path out = fs::temp_directory_path() / ("sdvk-component-" + std::to_string(::getpid()) + ".safetensors");
  ASSERT_EQ(run_cli(std::string("component ") + c.kind + " --model " + kData + "/" + c.model + " --input " + io +
                    " --output " + out.string()),
            0);
  test::expect_close(tensor(out.string(), c.output), tensor(io, c.output), 1e-4, std::string(c.kind) + " " + c.model);
  fs::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Goldens, ComponentCli,
                         ::testing::Values(ComponentCase{"unet", "unet_sd1_tiny", "out"},
                                           ComponentCase{"unet", "unet_sd2_tiny", "out"},
                                           ComponentCase{"vae-decode", "vae_tiny", "decoded"},
                                           ComponentCase{"vae-encode", "vae_tiny", "moments"},
                                           ComponentCase{"text-encoder", "clip_tiny", "last_hidden_state"},
                                           ComponentCase{"text-encoder", "clip_tiny", "text_embeds"}));

TEST(ComponentCliProfile, PrintsTimePerOpAndArena) {
  fs::path out = fs::temp_directory_path() / ("sdvk-component-prof-" + std::to_string(::getpid()) + ".safetensors");
  std::string text;
  ASSERT_EQ(run_cli("component vae-decode --profile --model " + kData + "/vae_tiny --input " + kData +
                        "/vae_tiny/io.safetensors --output " + out.string(),
                    nullptr, &text),
            0);
  EXPECT_NE(text.find("conv2d"), std::string::npos) << text;
  EXPECT_NE(text.find("activation arena"), std::string::npos) << text;
  fs::remove(out);
}

TEST(ComponentCliErrors, BadInputIsOneLineAndWritesNothing) {
  fs::path out = fs::temp_directory_path() / ("sdvk-component-bad-" + std::to_string(::getpid()) + ".safetensors");
  std::string err;
  EXPECT_EQ(run_cli("component unet --model /no/such/model --input " + kData + "/unet_sd1_tiny/io.safetensors" +
                        " --output " + out.string(),
                    &err),
            1);
  EXPECT_NE(err.find("/no/such/model"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(run_cli("component unet --model " + kData + "/unet_sd1_tiny --input " + kData +
                        "/vae_tiny/io.safetensors --output " + out.string(),
                    &err),
            1);  // the VAE's io file has no `sample`
  EXPECT_NE(err.find("sample"), std::string::npos) << err;
  EXPECT_EQ(run_cli("component warp --model x --input y --output " + out.string(), &err), 1);
  EXPECT_NE(err.find("warp"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace

namespace {

// Robustness campaign (issue 17): the output is never replaced without --overwrite, and only
// token ids may be integers.
TEST(ComponentCliErrors, ExistingOutputNeedsOverwrite) {
  test::TempDir dir("component-overwrite");
  const std::string out = dir / "out.safetensors";
  std::ofstream(out) << "keep me";
  const std::string run = "component unet --model " + kData + "/unet_sd1_tiny --input " + kData +
                          "/unet_sd1_tiny/io.safetensors --output " + out;
  std::string err;
  EXPECT_EQ(run_cli(run, &err), 1);
  EXPECT_NE(err.find("--output " + out + ": file exists"), std::string::npos) << err;
  EXPECT_EQ(test::slurp(out), "keep me");
  ASSERT_EQ(run_cli(run + " --overwrite", &err), 0) << err;
  test::expect_close(tensor(out, "out"), tensor(kData + "/unet_sd1_tiny/io.safetensors", "out"), 1e-4, "overwritten");
  fs::create_directories(dir / "folder");
  EXPECT_EQ(run_cli(run + " --overwrite --output " + (dir / "folder"), &err), 1);
}

TEST(ComponentCliErrors, IntegerSampleIsRefused) {
  test::TempDir dir("component-int");
  const std::string io = kData + "/unet_sd1_tiny/io.safetensors", in = dir / "in.safetensors";
  SafetensorsFile golden(io);
  std::vector<TensorToWrite> tensors;
  for (const char* name : {"timestep", "encoder_hidden_states"}) {
    const TensorInfo& t = *golden.find(name);
    tensors.push_back({name, t.dtype, t.shape, t.data, t.size});
  }
  const TensorInfo& sample = *golden.find("sample");
  std::vector<int32_t> ints(size_t(sample.numel()), 1);
  tensors.push_back({"sample", FileDType::I32, sample.shape, ints.data(), ints.size() * 4});
  write_safetensors(in, tensors);
  std::string err;
  EXPECT_EQ(run_cli("component unet --model " + kData + "/unet_sd1_tiny --input " + in + " --output " +
                        (dir / "out.safetensors"), &err), 1);
  EXPECT_NE(err.find("tensor 'sample'"), std::string::npos) << err;
  EXPECT_NE(err.find("I32"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
}

}  // namespace
