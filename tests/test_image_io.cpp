// PNG writing with text chunks (atomic, errors naming the path), reading PNG / JPEG / BMP as RGB,
// and the "parameters" text format.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <set>

#include "core/error.h"
#include "image/image.h"
#include "image/parameters.h"
#include "tests/support/error_of.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(SDVK_TEST_DATA) + "/clip_preprocess";

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sdvk-image-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Image pattern(int w, int h, int c) {
  Image img{w, h, c, {}};
  img.pixels.resize(size_t(w * h * c));
  for (size_t i = 0; i < img.pixels.size(); i++) img.pixels[i] = uint8_t((i * 37 + i / 7) & 0xFF);
  return img;
}

using test::error_of;

TEST(ImageIo, PngRoundTripsPixelsAndTextChunks) {
  fs::path d = temp_dir("roundtrip");
  Image img = pattern(13, 7, 3);
  const std::string unicode = "a fox \xe7\x8b\x90 in \xc3\xa9t\xc3\xa9 \xf0\x9f\xa6\x8a\nline two, with: punctuation";
  write_png((d / "a.png").string(), img, {{"parameters", unicode}, {"Software", "sdvk"}});
  std::map<std::string, std::string> text;
  Image back = read_image((d / "a.png").string(), &text);
  EXPECT_EQ(back.width, 13);
  EXPECT_EQ(back.height, 7);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, img.pixels);
  EXPECT_EQ(text["parameters"], unicode);
  EXPECT_EQ(text["Software"], "sdvk");
  // Only the file itself: the temporary was renamed, not left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 1);
  fs::remove_all(d);
}

TEST(ImageIo, GreyAndAlphaBecomeRgbWithAlphaDropped) {
  fs::path d = temp_dir("channels");
  Image grey = pattern(5, 4, 1), rgba = pattern(6, 3, 4);
  write_png((d / "g.png").string(), grey, {});
  write_png((d / "c.png").string(), rgba, {});
  Image g = read_image((d / "g.png").string()), c = read_image((d / "c.png").string());
  ASSERT_EQ(g.pixels.size(), size_t(5 * 4 * 3));
  ASSERT_EQ(c.pixels.size(), size_t(6 * 3 * 3));
  for (size_t i = 0; i < 20; i++)
    for (size_t k = 0; k < 3; k++) EXPECT_EQ(g.pixels[i * 3 + k], grey.pixels[i]);
  for (size_t i = 0; i < 18; i++)
    for (size_t k = 0; k < 3; k++) EXPECT_EQ(c.pixels[i * 3 + k], rgba.pixels[i * 4 + k]);
  EXPECT_EQ(to_rgb(rgba).pixels, c.pixels);
  fs::remove_all(d);
}

TEST(ImageIo, ReadsPillowMetadataAndOtherFormats) {
  std::map<std::string, std::string> text;
  Image png = read_image(kData + "/params_pil.png", &text);  // RGBA with iTXt + tEXt, by Pillow
  Image ref = read_image(kData + "/in_gradient.png");
  EXPECT_EQ(png.pixels, ref.pixels);  // alpha dropped, colours untouched
  EXPECT_EQ(text["Comment"], "caf\xc3\xa9");  // Latin-1 tEXt -> UTF-8
  GenerationParameters p = parse_parameters(text["parameters"]);
  EXPECT_EQ(p.prompt, "a watercolor of a fox \xe7\x8b\x90, \xc3\xa9t\xc3\xa9\nsecond line");
  EXPECT_EQ(p.negative_prompt, "blurry");
  EXPECT_EQ(p.steps, 20);
  EXPECT_EQ(p.sampler, "Euler a");
  EXPECT_EQ(p.cfg_scale, 7.0);
  EXPECT_EQ(p.seed, 123u);
  EXPECT_EQ(p.width, 45);
  EXPECT_EQ(p.height, 61);
  EXPECT_EQ(p.model, "a:b");

  // A palette with a transparent index (libpng expands tRNS to alpha, which must go too).
  EXPECT_EQ(read_image(kData + "/palette_trns.png").pixels, read_image(kData + "/palette_as_rgb.png").pixels);
  Image grey = read_image(kData + "/grey.png");
  ASSERT_EQ(grey.pixels.size(), size_t(37 * 23 * 3));
  std::set<int> levels;
  for (size_t i = 0; i < grey.pixels.size(); i += 3) {
    EXPECT_EQ(grey.pixels[i], grey.pixels[i + 1]);
    EXPECT_EQ(grey.pixels[i], grey.pixels[i + 2]);
    levels.insert(grey.pixels[i]);
  }
  EXPECT_GT(levels.size(), 100u);

  Image bmp = read_image(kData + "/gradient.bmp", &text);
  EXPECT_TRUE(text.empty());
  EXPECT_EQ(bmp.pixels, ref.pixels);  // lossless
  Image jpg = read_image(kData + "/gradient.jpg");
  ASSERT_EQ(jpg.pixels.size(), ref.pixels.size());
  double diff = 0;  // lossy: close, not equal (quality 95 on a smooth gradient)
  for (size_t i = 0; i < ref.pixels.size(); i++) diff += std::abs(int(jpg.pixels[i]) - int(ref.pixels[i]));
  EXPECT_LT(diff / double(ref.pixels.size()), 2.0);
}

TEST(ImageIo, BadFilesAreErrorsNamingTheFile) {
  fs::path d = temp_dir("bad");
  EXPECT_NE(error_of([&] { read_image((d / "missing.png").string()); }).find("missing.png: No such file"), std::string::npos);
  std::ofstream((d / "junk.jpg").string()) << "not an image at all";
  EXPECT_NE(error_of([&] { read_image((d / "junk.jpg").string()); }).find("junk.jpg"), std::string::npos);
  // A PNG cut in the middle of its pixel data.
  write_png((d / "whole.png").string(), pattern(64, 64, 3), {});
  std::ifstream in((d / "whole.png").string(), std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  std::ofstream((d / "cut.png").string(), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string e = error_of([&] { read_image((d / "cut.png").string()); });
  EXPECT_NE(e.find("cut.png"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { read_image(d.string()); }).find("is a directory"), std::string::npos);
  fs::remove_all(d);
}

TEST(ImageIo, UnwritablePathIsAnErrorAndLeavesNothing) {
  fs::path d = temp_dir("unwritable");
  std::string e = error_of([&] { write_png((d / "no_such_dir" / "x.png").string(), pattern(4, 4, 3), {}); });
  EXPECT_EQ(e, "cannot write " + (d / "no_such_dir" / "x.png").string() + ": No such file or directory");
  // Renaming over a directory fails after the data was written: the temporary must go.
  fs::create_directories(d / "taken.png");
  e = error_of([&] { write_png((d / "taken.png").string(), pattern(4, 4, 3), {}); });
  EXPECT_NE(e.find("cannot write " + (d / "taken.png").string()), std::string::npos) << e;
  EXPECT_EQ(std::distance(fs::directory_iterator(d), fs::directory_iterator()), 1);
  e = error_of([&] { write_png((d / "k.png").string(), pattern(4, 4, 3), {{"", "v"}}); });
  EXPECT_NE(e.find("keyword"), std::string::npos) << e;
  e = error_of([&] { write_png((d / "k.png").string(), Image{4, 4, 3, {1, 2}}, {}); });
  EXPECT_NE(e.find("cannot write"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(d / "k.png"));
  fs::remove_all(d);
}

TEST(ImageIo, OnlyRegularFilesAreReplacedAndLinksAreWrittenThrough) {
  fs::path d = temp_dir("special");
  // A FIFO stands for any special file (a device node such as /dev/full): never replaced.
  ASSERT_EQ(::mkfifo((d / "fifo.png").c_str(), 0644), 0);
  std::string e = error_of([&] { write_png((d / "fifo.png").string(), pattern(4, 4, 3), {}); });
  EXPECT_NE(e.find("cannot write " + (d / "fifo.png").string() + ": is not a regular file"), std::string::npos) << e;
  EXPECT_FALSE(fs::is_regular_file(fs::symlink_status(d / "fifo.png")));
  // A symlink stays a link; its target (in another folder) gets the new image.
  fs::create_directories(d / "real");
  write_png((d / "real" / "target.png").string(), pattern(4, 4, 3), {{"k", "old"}});
  fs::create_symlink("real/target.png", d / "link.png");
  write_png((d / "link.png").string(), pattern(3, 2, 3), {{"k", "new"}});
  EXPECT_TRUE(fs::is_symlink(d / "link.png"));
  std::map<std::string, std::string> text;
  EXPECT_EQ(read_image((d / "real" / "target.png").string(), &text).width, 3);
  EXPECT_EQ(text["k"], "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(d / "real"), fs::directory_iterator()), 1);  // no temporary left
  // A link to a folder is refused like the folder.
  fs::create_directory_symlink("real", d / "dirlink.png");
  e = error_of([&] { write_png((d / "dirlink.png").string(), pattern(4, 4, 3), {}); });
  EXPECT_NE(e.find("is a folder"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_symlink(d / "dirlink.png"));
  fs::remove_all(d);
}

// Peak memory of reading `path` in a child process, in MiB (the child's own growth).
long read_image_peak_mib(const std::string& path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    struct rusage before, after;
    ::getrusage(RUSAGE_SELF, &before);
    try {
      read_image(path);
    } catch (const Error&) {
    }
    ::getrusage(RUSAGE_SELF, &after);
    ::_exit(int(std::min<long>(250, (after.ru_maxrss - before.ru_maxrss) / 1024)));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

TEST(ImageIo, HostileChunkLengthCostsNoMemory) {
  // 44 bytes: a valid 1x1 header, then a tEXt chunk claiming 0x7fffffff bytes. libpng would
  // allocate what the length says (2 GB) before finding the file ends.
  fs::path d = temp_dir("bomb");
  const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a,  // signature
                               0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
                               0x90, 0x77, 0x53, 0xde,  // IHDR CRC
                               0x7f, 0xff, 0xff, 0xff, 't', 'E', 'X', 't', 'k', 0, 'v'};
  std::ofstream((d / "bomb.png").string(), std::ios::binary).write(reinterpret_cast<const char*>(png), sizeof png);
  std::string e = error_of([&] { read_image((d / "bomb.png").string()); });
  EXPECT_NE(e.find("bomb.png: bad PNG"), std::string::npos) << e;
  EXPECT_LT(read_image_peak_mib((d / "bomb.png").string()), 32);
  fs::remove_all(d);
}

TEST(ImageIo, PixelDataTooShortForTheHeaderCostsNoMemory) {
  // A 16384 x 16384 header (within the side limit) over 11 bytes of pixel data: the decoded
  // image (805 MB) must not be allocated before the data is found missing.
  fs::path d = temp_dir("size-bomb");
  const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a,
                               0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0x40, 0, 0, 0, 0x40, 0, 8, 2, 0, 0, 0,
                               0x26, 0xaa, 0x87, 0xd3,  // IHDR CRC
                               0, 0, 0, 11, 'I', 'D', 'A', 'T', 0x78, 0x01, 0x63, 0x60, 0x60, 0x60, 0, 0, 0, 4, 0,
                               0x95, 0x21, 0x7d, 0xab,  // IDAT CRC
                               0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  std::ofstream((d / "huge.png").string(), std::ios::binary).write(reinterpret_cast<const char*>(png), sizeof png);
  std::string e = error_of([&] { read_image((d / "huge.png").string()); });
  EXPECT_NE(e.find("huge.png: bad PNG"), std::string::npos) << e;
  EXPECT_LT(read_image_peak_mib((d / "huge.png").string()), 32);
  fs::remove_all(d);
}

TEST(ImageIo, TopDownBmpIsRead) {
  // A 2x2 24-bit BMP with a negative height: rows stored top row first.
  fs::path d = temp_dir("bmp");
  std::string bmp = "BM";
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; i++) bmp += char(v >> (8 * i)); };
  auto u16 = [&](uint16_t v) { for (int i = 0; i < 2; i++) bmp += char(v >> (8 * i)); };
  u32(54 + 16); u32(0); u32(54);                          // file size, reserved, pixel offset
  u32(40); u32(2); u32(uint32_t(-2)); u16(1); u16(24);    // BITMAPINFOHEADER: 2 x -2, 24 bits
  u32(0); u32(16); u32(2835); u32(2835); u32(0); u32(0);
  const unsigned char rows[16] = {0, 0, 255, 0, 255, 0, 0, 0,      // top: red, green (BGR), pad
                                  255, 0, 0, 255, 255, 255, 0, 0};  // bottom: blue, white, pad
  bmp.append(reinterpret_cast<const char*>(rows), 16);
  std::ofstream((d / "top_down.bmp").string(), std::ios::binary) << bmp;
  Image img = read_image((d / "top_down.bmp").string());
  ASSERT_EQ(img.width, 2);
  ASSERT_EQ(img.height, 2);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255}));
  fs::remove_all(d);
}

TEST(ImageIo, OverwriteReplacesTheWholeFile) {
  fs::path d = temp_dir("overwrite");
  write_png((d / "a.png").string(), pattern(40, 40, 3), {{"k", "old"}});
  write_png((d / "a.png").string(), pattern(3, 2, 3), {{"k", "new"}});
  std::map<std::string, std::string> text;
  Image back = read_image((d / "a.png").string(), &text);
  EXPECT_EQ(back.width, 3);
  EXPECT_EQ(text["k"], "new");
  fs::remove_all(d);
}

TEST(Parameters, FormatsAsAutomatic1111) {
  GenerationParameters p;
  p.prompt = "a cat";
  p.negative_prompt = "blurry";
  p.steps = 25;
  p.sampler = "ddim";
  p.cfg_scale = 7.5;
  p.seed = 42;
  p.width = p.height = 512;
  p.model_hash = "abcd1234";
  p.model = "name";
  p.version = "sdvk 0.1.0";
  EXPECT_EQ(format_parameters(p),
            "a cat\nNegative prompt: blurry\nSteps: 25, Sampler: ddim, CFG scale: 7.5, Seed: 42, Size: 512x512, "
            "Model hash: abcd1234, Model: name, Version: sdvk 0.1.0");
  p.negative_prompt.clear();
  p.cfg_scale = 7;
  p.model = "v1-5, pruned";
  p.extra = {{"Clip skip", "2"}};
  EXPECT_EQ(format_parameters(p),
            "a cat\nSteps: 25, Sampler: ddim, CFG scale: 7.0, Seed: 42, Size: 512x512, Model hash: abcd1234, "
            "Model: \"v1-5, pruned\", Clip skip: 2, Version: sdvk 0.1.0");
}

TEST(Parameters, RoundTrips) {
  GenerationParameters p;
  p.prompt = "line one, with a comma\nline two: colon\n\n(emphasis:1.2) \xe7\x8b\x90";
  p.negative_prompt = "ugly\nsecond \"quoted\" line";
  p.steps = 1000;
  p.sampler = "dpm++ 2m karras";
  p.cfg_scale = 0.1 + 0.2;  // needs 17 digits
  p.seed = 18446744073709551615ull;
  p.width = 768;
  p.height = 1024;
  p.model = "C:\\models\\x.safetensors";
  p.model_hash = "0123abcd";
  p.version = "sdvk 0.1.0";
  p.extra = {{"Denoising strength", "0.75"}, {"Note", "a, b: \"c\"\nd"}};
  for (bool with_negative : {true, false}) {
    if (!with_negative) p.negative_prompt.clear();
    GenerationParameters q = parse_parameters(format_parameters(p));
    EXPECT_EQ(q.prompt, p.prompt);
    EXPECT_EQ(q.negative_prompt, p.negative_prompt);
    EXPECT_EQ(q.steps, p.steps);
    EXPECT_EQ(q.sampler, p.sampler);
    EXPECT_EQ(q.cfg_scale, p.cfg_scale);
    EXPECT_EQ(q.seed, p.seed);
    EXPECT_EQ(q.width, p.width);
    EXPECT_EQ(q.height, p.height);
    EXPECT_EQ(q.model, p.model);
    EXPECT_EQ(q.model_hash, p.model_hash);
    EXPECT_EQ(q.version, p.version);
    EXPECT_EQ(q.extra, p.extra);
  }
  GenerationParameters empty;
  empty.negative_prompt = "only negative";
  GenerationParameters q = parse_parameters(format_parameters(empty));
  EXPECT_EQ(q.prompt, "");
  EXPECT_EQ(q.negative_prompt, "only negative");
}

TEST(Parameters, TextWithoutSettingsIsAllPromptAndBadValuesThrow) {
  GenerationParameters p = parse_parameters("just a prompt\nstyle: oil, mood: calm");
  EXPECT_EQ(p.prompt, "just a prompt\nstyle: oil, mood: calm");  // two pairs are not a settings line
  EXPECT_EQ(p.steps, 0);
  EXPECT_THROW(parse_parameters("x\nSteps: many, Sampler: a, Seed: 1"), Error);
  EXPECT_THROW(parse_parameters("x\nSteps: 2, Sampler: a, Seed: -1"), Error);
  EXPECT_THROW(parse_parameters("x\nSteps: 2, Sampler: a, Size: 5by5"), Error);
}

}  // namespace
