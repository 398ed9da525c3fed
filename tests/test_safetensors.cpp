// The safetensors reader, writer and float conversions, including files built to break the
// reader: every one must give a one-line Error naming the file and the problem, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/half.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/weights.h"

using namespace sdvk;
namespace fs = std::filesystem;

namespace {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sdvk_test_safetensors_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with the given 8-byte header length, header text and data bytes.
  std::string raw(const std::string& name, uint64_t header_len, const std::string& header, size_t data_bytes) {
    std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    for (int i = 0; i < 8; i++) out.put(char(header_len >> (8 * i)));
    out << header << std::string(data_bytes, '\x01');
    return p;
  }
  std::string raw(const std::string& name, const std::string& header, size_t data_bytes) {
    return raw(name, header.size(), header, data_bytes);
  }

  // The Error message of opening `p`; fails the test when it opens.
  static std::string open_error(const std::string& p) {
    try {
      SafetensorsFile f(p);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << p << " opened";
    return "";
  }

  fs::path dir_;
};

// The message names the file, says what is wrong, and is one line.
#define EXPECT_REFUSED(file, text)                        \
  do {                                                    \
    std::string file_ = (file);                           \
    std::string msg = open_error(file_);                  \
    EXPECT_NE(msg.find(file_), std::string::npos) << msg; \
    EXPECT_NE(msg.find(text), std::string::npos) << msg;  \
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;  \
  } while (0)

TEST_F(Safetensors, WrittenFileReadsBackExactly) {
  std::vector<float> f32 = {1.5f, -2.25f, 3.0f, 1e-3f, 0.0f, -0.0f};
  std::vector<uint16_t> f16 = {0x3c00, 0xc000};   // 1, -2
  std::vector<uint16_t> bf16 = {0x3fc0, 0x4049};  // 1.5, ~3.14
  std::vector<int64_t> ids = {0, 1, 2, 76};
  std::string p = path("round.safetensors");
  write_safetensors(p,
                    {{"w", FileDType::F32, {2, 3}, f32.data(), 24},
                     {"h", FileDType::F16, {2}, f16.data(), 4},
                     {"b", FileDType::BF16, {1, 2}, bf16.data(), 4},
                     {"position_ids", FileDType::I64, {1, 4}, ids.data(), 32},
                     {"empty", FileDType::F32, {0, 4}, nullptr, 0}},
                    {{"format", "pt"}});
  EXPECT_FALSE(fs::exists(p + ".tmp." + std::to_string(::getpid())));

  SafetensorsFile f(p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"b", "empty", "h", "position_ids", "w"}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorInfo* w = f.find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, FileDType::F32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(to_f32(*w), f32);
  EXPECT_EQ(to_f32(*f.find("h")), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(to_f32(*f.find("b")), (std::vector<float>{1.5f, bf16_to_float(0x4049)}));
  EXPECT_FLOAT_EQ(bf16_to_float(0x4049), 3.140625f);
  EXPECT_FALSE(f.find("position_ids")->is_float());
  EXPECT_EQ(std::memcmp(f.find("position_ids")->data, ids.data(), 32), 0);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(f.find("missing"), nullptr);
  // Data starts 8-aligned, as the safetensors writers do it.
  uint64_t header_len = 0;
  std::ifstream in(p, std::ios::binary);
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ(header_len % 8, 0u);
}

TEST_F(Safetensors, WriterRefusesInconsistentTensors) {
  float x[4] = {};
  EXPECT_THROW(write_safetensors(path("a.safetensors"), {{"x", FileDType::F32, {2, 2}, x, 12}}), Error);
  EXPECT_THROW(write_safetensors(path("a.safetensors"), {{"x", FileDType::F32, {1}, x, 4}, {"x", FileDType::F32, {1}, x, 4}}),
               Error);
  EXPECT_THROW(write_safetensors(path("a.safetensors"), {{"__metadata__", FileDType::F32, {1}, x, 4}}), Error);
  EXPECT_THROW(write_safetensors(path("no/such/dir/a.safetensors"), {{"x", FileDType::F32, {1}, x, 4}}), Error);
  EXPECT_FALSE(fs::exists(path("a.safetensors")));
}

TEST_F(Safetensors, ConvertsToHalfAndReportsWhatDoesNotFit) {
  // bfloat16: 1.5, 1e5 (beyond float16's 65504), 1e-9 (below its smallest subnormal), -2.
  std::vector<uint16_t> bf16 = {0x3fc0, 0x47c3, 0x3089, 0xc000};
  std::vector<uint16_t> fits = {0x3fc0, 0xc000};
  std::string p = path("bf16.safetensors");
  write_safetensors(p, {{"big", FileDType::BF16, {4}, bf16.data(), 8}, {"fits", FileDType::BF16, {2}, fits.data(), 4}});
  SafetensorsFile f(p);
  F16RangeReport r = check_f16_range(*f.find("big"));
  EXPECT_EQ(r.overflow, 1u);
  EXPECT_EQ(r.underflow, 1u);
  EXPECT_NEAR(r.largest, 99840.0, 1.0);  // 0x47c3 is 99840 in bfloat16
  try {
    to_f16(*f.find("big"));
    ADD_FAILURE() << "out-of-range value converted";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'big'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1 of 4 BF16 values are outside the float16 range"), std::string::npos) << msg;
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
  EXPECT_EQ(to_f16(*f.find("fits")), (std::vector<uint16_t>{float_to_half(1.5f), float_to_half(-2.0f)}));
}

// A tensor large enough to be converted on several threads: every value lands in its place
// and the reports of all parts add up (out-of-range values in the first and the last part).
TEST_F(Safetensors, LargeTensorsConvertInPartsAndReportEveryPart) {
  const size_t n = (size_t(1) << 20) + 7;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; i++) x[i] = float(int(i % 2001) - 1000) * 0.01f;
  x[3] = 1e5f;
  x[n - 2] = -2e5f;
  x[n / 2] = 1e-9f;
  std::string p = path("large.safetensors");
  write_safetensors(p, {{"x", FileDType::F32, {int64_t(n)}, x.data(), n * 4}});
  SafetensorsFile f(p);
  F16RangeReport r = check_f16_range(*f.find("x"));
  EXPECT_EQ(r.overflow, 2u);
  EXPECT_EQ(r.underflow, 1u);
  EXPECT_EQ(r.largest, 2e5);
  x[3] = x[n - 2] = 0.0f;
  write_safetensors(p, {{"x", FileDType::F32, {int64_t(n)}, x.data(), n * 4}});
  SafetensorsFile g(p);
  std::vector<uint16_t> h = to_f16(*g.find("x"));
  ASSERT_EQ(h.size(), n);
  for (size_t i = 0; i < n; i += 997) ASSERT_EQ(h[i], float_to_half(x[i])) << i;
  EXPECT_EQ(h[n - 1], float_to_half(x[n - 1]));
}

TEST_F(Safetensors, IntegerTensorsAreNotConverted) {
  std::vector<int64_t> ids = {1, 2};
  std::string p = path("ids.safetensors");
  write_safetensors(p, {{"position_ids", FileDType::I64, {2}, ids.data(), 16}});
  SafetensorsFile f(p);
  try {
    to_f32(*f.find("position_ids"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dtype I64 is not a float format"), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, HostileHeaders) {
  EXPECT_REFUSED(raw("zero_header.safetensors", 0, "", 0), "header: not valid JSON (at byte 1 of 0)");
  {
    std::ofstream(path("tiny.safetensors")) << "abc";
    EXPECT_REFUSED(path("tiny.safetensors"), "too short for a safetensors header (3 bytes)");
  }
  EXPECT_REFUSED(raw("past_end.safetensors", 1000, "{}", 10), "header length 1000 runs past the end of the file");
  EXPECT_REFUSED(raw("huge.safetensors", 1ull << 63, "{}", 10),
                 "header length 9223372036854775808 is over the 100 MB limit");
  EXPECT_REFUSED(raw("not_json.safetensors", "{\"a\": {nope", 0), "header: not valid JSON");
  EXPECT_REFUSED(raw("array.safetensors", "[1, 2]", 0), "header is not a JSON object");
  EXPECT_REFUSED(raw("deep.safetensors", std::string(5000, '[') + std::string(5000, ']'), 0), "nested too deeply");
  EXPECT_REFUSED(raw("out_of_range.safetensors", R"({"w":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", 16),
                 "tensor 'w': data_offsets [0, 400] lie outside the data area (16 bytes");
  EXPECT_REFUSED(raw("backwards.safetensors", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 16),
                 "tensor 'w': data_offsets [8, 0] has begin after end");
  EXPECT_REFUSED(raw("dtype_size.safetensors", R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 16),
                 "tensor 'w': data_offsets [0, 8] hold 8 bytes but F32 [2, 2] needs 16");
  EXPECT_REFUSED(
      raw("overlap.safetensors",
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          16),
      "tensors 'a' and 'b' overlap");
  EXPECT_REFUSED(raw("unknown_dtype.safetensors", R"({"w":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", 8),
                 "tensor 'w': unknown dtype 'F17'");
  EXPECT_REFUSED(raw("negative.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                 "tensor 'w': shape [-2] has a negative or non-integer dimension");
  EXPECT_REFUSED(raw("fraction.safetensors", R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
                 "negative or non-integer dimension");
  EXPECT_REFUSED(
      raw("overflow.safetensors",
          R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8]}})", 8),
      "tensor 'w': shape [4611686018427387904,4611686018427387904] overflows");
  EXPECT_REFUSED(raw("bytes_overflow.safetensors",
                     R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8),
                 "overflows");
  EXPECT_REFUSED(raw("dtype_type.safetensors", R"({"w":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})", 8),
                 "tensor 'w': missing or non-string \"dtype\"");
  EXPECT_REFUSED(raw("shape_type.safetensors", R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8),
                 "tensor 'w': missing or non-array \"shape\"");
  EXPECT_REFUSED(raw("offsets_type.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", 8),
                 "tensor 'w': \"data_offsets\" is not a pair of non-negative integers");
  EXPECT_REFUSED(raw("entry_type.safetensors", R"({"w":[1,2]})", 0), "tensor 'w': entry is not a JSON object");
  EXPECT_REFUSED(raw("metadata.safetensors", R"({"__metadata__":{"format":1}})", 0),
                 "__metadata__ field 'format' is not a string");
  EXPECT_REFUSED(raw("newline.safetensors", "{\"a\\nb\":{\"dtype\":\"F99\",\"shape\":[],\"data_offsets\":[0,0]}}", 0),
                 "tensor 'a\\x0ab': unknown dtype");
  EXPECT_REFUSED(path("missing.safetensors"), "cannot open");
  EXPECT_REFUSED(dir_.string(), "is a directory");
}

TEST_F(Safetensors, TruncatedFile) {
  std::vector<float> x(64, 1.0f);
  std::string p = path("whole.safetensors");
  write_safetensors(p, {{"x", FileDType::F32, {64}, x.data(), 256}});
  fs::resize_file(p, fs::file_size(p) - 10);
  EXPECT_REFUSED(p, "tensor 'x': data_offsets [0, 256] lie outside the data area (246 bytes; truncated file?)");
}

TEST_F(Safetensors, PickleCheckpointsAreRefusedUnread) {
  std::string zip = path("model.ckpt");
  std::ofstream(zip, std::ios::binary) << "PK\x03\x04 rest of a torch.save zip";
  std::string pickle = path("disguised.safetensors");
  std::ofstream(pickle, std::ios::binary) << "\x80\x02}q\x00(X\x05\x00\x00\x00state";
  EXPECT_REFUSED(zip, "PyTorch pickle checkpoint refused");
  EXPECT_REFUSED(pickle, "convert it to .safetensors");
  for (const std::string& p : {zip, pickle}) {
    try {
      WeightSet::load(p);
      ADD_FAILURE() << p << " loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("PyTorch pickle checkpoint refused"), std::string::npos) << e.what();
    }
  }
  // By name alone: a .ckpt is refused before a byte of it is read.
  std::string empty_ckpt = path("empty.ckpt");
  std::ofstream(empty_ckpt).close();
  EXPECT_THROW(refuse_pickle_checkpoint(empty_ckpt), Error);
  EXPECT_NO_THROW(refuse_pickle_checkpoint(path("model.safetensors")));
}

}  // namespace
