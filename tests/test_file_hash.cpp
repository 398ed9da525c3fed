// SHA-256 against FIPS 180-4's examples, and the cached short hash of a file.
#include "model/file_hash.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/cli_run.h"
#include "gtest/gtest.h"

using namespace sdvk;

namespace {

std::string sha256_of(const std::string& s) {
  Sha256 h;
  h.update(s.data(), s.size());
  return hex(h.finish());
}

TEST(FileHash, Sha256KnownAnswers) {
  EXPECT_EQ(sha256_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the length no longer fits the first block's padding.
  EXPECT_EQ(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a' fed in uneven pieces.
  Sha256 h;
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; i++) h.update(a.data(), 999);
  h.update(a.data(), 1000);
  EXPECT_EQ(hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The short hash is the digest's first 10 digits, cached per path, size and mtime: a changed
// file is hashed again.
TEST(FileHash, ShortHashIsCachedUntilTheFileChanges) {
  test::TempDir dir("file_hash");
  setenv("SDVK_CACHE_DIR", (dir / "cache").c_str(), 1);
  const std::string f = dir / "model.safetensors";
  std::ofstream(f) << "abc";
  EXPECT_EQ(short_file_hash(f), "ba7816bf8f");
  EXPECT_NE(test::slurp(dir / "cache/file_hashes.tsv").find("ba7816bf8f\t3\t"), std::string::npos);
  EXPECT_EQ(short_file_hash(f), "ba7816bf8f");
  std::ofstream(f) << "abcd";  // new size
  EXPECT_EQ(short_file_hash(f), sha256_of("abcd").substr(0, 10));
  EXPECT_THROW(short_file_hash(dir / "missing"), std::exception);
  unsetenv("SDVK_CACHE_DIR");
}

}  // namespace
