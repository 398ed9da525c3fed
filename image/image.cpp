#include "image/image.h"

#include <png.h>
#include <stb_image.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "model/replace_target.h"

namespace sdvk {
namespace {

constexpr int kMaxSide = 16384;  // refuse images whose decoded size could exhaust memory
// A chunk other than the pixel data (text, ICC profile) is buffered whole, and zTXt/iTXt/iCCP
// decompressed whole: libpng would allocate what a hostile length field claims. Real text and
// profiles are far below these; a hostile image costs at most a few MB beyond its pixels.
constexpr png_alloc_size_t kMaxChunkBytes = 4 << 20;
constexpr png_uint_32 kMaxAncillaryChunks = 1000;
constexpr size_t kErrorBytes = 256;

// libpng reports errors through this callback; the message goes to the buffer handed over as
// error_ptr and control returns to the setjmp in the png_* function below. The longjmp never
// crosses a frame holding C++ objects with destructors: those functions only call libpng.
void png_error_to_buffer(png_structp png, png_const_charp message) {
  std::snprintf(static_cast<char*>(png_get_error_ptr(png)), kErrorBytes, "%s", message);
  png_longjmp(png, 1);
}
void png_ignore_warning(png_structp, png_const_charp) {}

bool is_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

std::string latin1_to_utf8(const char* s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += char(c);
    } else {
      out += char(0xC0 | (c >> 6));
      out += char(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// Encodes img to f. Returns false with `error` filled when libpng fails.
bool png_encode(FILE* f, const Image* img, png_text* texts, int text_count, png_bytep* rows, char* error) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, error, png_error_to_buffer, png_ignore_warning);
  if (!png) {
    std::snprintf(error, kErrorBytes, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    if (!info) std::snprintf(error, kErrorBytes, "libpng could not start");
    png_destroy_write_struct(&png, &info);
    return false;
  }
  static const int kColorType[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                    PNG_COLOR_TYPE_RGB_ALPHA};
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(img->width), png_uint_32(img->height), 8, kColorType[img->channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (text_count > 0) png_set_text(png, info, texts, text_count);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

struct PngDecoded {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // RGB
  std::vector<png_bytep> rows;
  std::map<std::string, std::string> text;
};

void collect_text(png_structp png, png_infop info, std::map<std::string, std::string>* out) {
  png_textp text = nullptr;
  int n = png_get_text(png, info, &text, nullptr);
  for (int i = 0; i < n; i++) {
    // iTXt holds UTF-8; tEXt and zTXt hold Latin-1.
    bool utf8 = text[i].compression == PNG_ITXT_COMPRESSION_NONE || text[i].compression == PNG_ITXT_COMPRESSION_zTXt;
    size_t len = utf8 ? text[i].itxt_length : text[i].text_length;
    if (!text[i].text) len = 0;
    (*out)[text[i].key] = utf8 ? std::string(text[i].text ? text[i].text : "", len) : latin1_to_utf8(text[i].text, len);
  }
}

// libpng allocates an ancillary chunk at the size its length field claims before reading it
// (2 GB for a hostile 44-byte file, whatever png_set_chunk_malloc_max says in 1.6.39), so
// the chunk lengths are checked here first: each within the file, each but the pixel data
// within kMaxChunkBytes. Returns false with `error` filled otherwise.
// The pixel data is checked too: deflate expands at most 1032-fold, so IDAT chunks too short
// for the header's size are refused before the decoded image (up to 805 MB) is allocated.
bool png_chunks_fit(FILE* f, char* error) {
  if (std::fseek(f, 0, SEEK_END) != 0) return true;  // not seekable: libpng reports what it finds
  const long size = std::ftell(f);
  uint64_t idat_bytes = 0, raw_bytes = 0;  // compressed, and the least the header's image decodes to
  uint32_t width = 0, height = 0;
  for (long at = 8; at + 8 <= size;) {  // a whole chunk header: length, type
    unsigned char header[8 + 13];
    if (std::fseek(f, at, SEEK_SET) != 0 || std::fread(header, 1, 8, f) != 8) break;
    const uint32_t length = uint32_t(header[0]) << 24 | uint32_t(header[1]) << 16 | uint32_t(header[2]) << 8 | header[3];
    const char type[5] = {char(header[4]), char(header[5]), char(header[6]), char(header[7]), 0};
    for (int i = 0; i < 4; i++)
      if (!std::isalpha(static_cast<unsigned char>(type[i]))) return true;  // libpng names the bad chunk
    if (uint64_t(length) + 12 > uint64_t(size - at)) {
      std::snprintf(error, kErrorBytes, "chunk %s claims %lu bytes, past the end of the file", type, (unsigned long)length);
      return false;
    }
    if (length > kMaxChunkBytes && std::strcmp(type, "IDAT") != 0) {
      std::snprintf(error, kErrorBytes, "chunk %s of %lu bytes is over the %lu-byte limit", type, (unsigned long)length,
                    (unsigned long)kMaxChunkBytes);
      return false;
    }
    if (std::strcmp(type, "IHDR") == 0 && length >= 13 && std::fread(header + 8, 1, 13, f) == 13) {
      const auto u32 = [&](int i) { return uint32_t(header[i]) << 24 | uint32_t(header[i + 1]) << 16 | uint32_t(header[i + 2]) << 8 | header[i + 3]; };
      static const int kChannels[7] = {1, 0, 3, 1, 2, 0, 4};  // by colour type
      width = u32(8);
      height = u32(12);
      const uint64_t bits = uint64_t(header[16]) * uint64_t(header[17] <= 6 ? kChannels[header[17]] : 1);
      raw_bytes = uint64_t(height) * (1 + (uint64_t(width) * std::max<uint64_t>(bits, 1) + 7) / 8);
    }
    if (std::strcmp(type, "IDAT") == 0) idat_bytes += length;
    if (std::strcmp(type, "IEND") == 0) break;  // what follows is not read
    at += 12 + long(length);
  }
  if (raw_bytes > 1032 * idat_bytes + 1032) {
    std::snprintf(error, kErrorBytes, "%lu bytes of pixel data cannot hold a %lux%lu image", (unsigned long)idat_bytes,
                  (unsigned long)width, (unsigned long)height);
    return false;
  }
  return true;
}

// Decodes a PNG as 8-bit RGB. `out` belongs to the caller, so no destructor is skipped by a
// libpng longjmp out of this frame.
bool png_decode(FILE* f, PngDecoded* out, char* error) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, error, png_error_to_buffer, png_ignore_warning);
  if (!png) {
    std::snprintf(error, kErrorBytes, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  png_infop end_info = info ? png_create_info_struct(png) : nullptr;
  if (!end_info || setjmp(png_jmpbuf(png))) {
    if (!end_info) std::snprintf(error, kErrorBytes, "libpng could not start");
    png_destroy_read_struct(&png, &info, &end_info);
    return false;
  }
  png_set_user_limits(png, kMaxSide, kMaxSide);
  png_set_chunk_malloc_max(png, kMaxChunkBytes);
  png_set_chunk_cache_max(png, kMaxAncillaryChunks);
  png_init_io(png, f);
  png_read_info(png, info);
  int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  // palette_to_rgb also turns a tRNS chunk into an alpha channel: drop that too.
  if ((color & PNG_COLOR_MASK_ALPHA) || (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)))
    png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out->width = int(png_get_image_width(png, info));
  out->height = int(png_get_image_height(png, info));
  if (png_get_rowbytes(png, info) != size_t(out->width) * 3) png_error(png, "unexpected row layout after conversion to RGB");
  out->pixels.resize(size_t(out->width) * size_t(out->height) * 3);
  out->rows.resize(size_t(out->height));
  for (int y = 0; y < out->height; y++) out->rows[size_t(y)] = out->pixels.data() + size_t(y) * size_t(out->width) * 3;
  png_read_image(png, out->rows.data());
  png_read_end(png, end_info);
  collect_text(png, info, &out->text);
  collect_text(png, end_info, &out->text);
  png_destroy_read_struct(&png, &info, &end_info);
  return true;
}

void check_keyword(const std::string& path, const std::string& key) {
  bool ok = !key.empty() && key.size() <= 79 && key.front() != ' ' && key.back() != ' ';
  for (unsigned char c : key) ok = ok && c >= 32 && c <= 126;
  if (!ok) throw Error("cannot write " + path + ": text chunk keyword '" + key + "' is not 1-79 printable ASCII characters");
}

}  // namespace

void write_png(const std::string& path, const Image& img,
               const std::vector<std::pair<std::string, std::string>>& text_chunks) {
  if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 ||
      img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(img.channels))
    throw Error("cannot write " + path + ": image is " + std::to_string(img.width) + "x" + std::to_string(img.height) + "x" +
                std::to_string(img.channels) + " with " + std::to_string(img.pixels.size()) + " bytes");
  std::vector<png_text> texts(text_chunks.size());
  for (size_t i = 0; i < text_chunks.size(); i++) {
    const auto& [key, value] = text_chunks[i];
    check_keyword(path, key);
    if (value.find('\0') != std::string::npos) throw Error("cannot write " + path + ": text chunk '" + key + "' holds a NUL byte");
    png_text& t = texts[i];
    std::memset(&t, 0, sizeof t);
    t.key = const_cast<char*>(key.c_str());
    t.text = const_cast<char*>(value.c_str());
    if (is_ascii(value)) {
      t.compression = PNG_TEXT_COMPRESSION_NONE;
      t.text_length = value.size();
    } else {
      t.compression = PNG_ITXT_COMPRESSION_NONE;
      t.itxt_length = value.size();
    }
  }
  std::vector<png_bytep> rows(size_t(img.height));
  for (int y = 0; y < img.height; y++)
    rows[size_t(y)] = const_cast<png_bytep>(img.pixels.data() + size_t(y) * size_t(img.width) * size_t(img.channels));

  // A temporary in the target's directory (so rename is atomic), with the permissions a plain
  // fopen would give rather than mkstemp's 0600.
  std::string target;
  try {
    target = replace_target(path);
  } catch (const Error& e) {
    throw Error(std::string("cannot write ") + e.what());
  }
  std::string temp = target + ".part.XXXXXX";
  int fd = ::mkstemp(temp.data());
  if (fd < 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    int e = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    throw Error("cannot write " + path + ": " + std::strerror(e));
  }
  char error[kErrorBytes] = {0};
  bool ok = png_encode(f, &img, texts.data(), int(texts.size()), rows.data(), error);
  // Synced before the rename: a manifest line (synced too) may name the file right after, and
  // after a crash it must not point at an empty image that --skip-existing then keeps.
  if (ok && (std::fflush(f) != 0 || ::fsync(fd) != 0)) {
    ok = false;
    std::snprintf(error, sizeof error, "%s", std::strerror(errno));
  }
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    std::snprintf(error, sizeof error, "%s", std::strerror(errno));
  }
  if (ok && std::rename(temp.c_str(), target.c_str()) != 0) {
    ok = false;
    std::snprintf(error, sizeof error, "%s", std::strerror(errno));
  }
  if (!ok) {
    ::unlink(temp.c_str());
    throw Error("cannot write " + path + ": " + error);
  }
}

Image read_image(const std::string& path, std::map<std::string, std::string>* text_chunks) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot read " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(::fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::fclose(f);
    throw Error("cannot read " + path + ": is a directory");
  }
  unsigned char signature[8] = {0};
  size_t got = std::fread(signature, 1, 8, f);
  Image img;
  if (got == 8 && png_sig_cmp(signature, 0, 8) == 0) {
    PngDecoded d;
    char error[kErrorBytes] = {0};
    bool ok = png_chunks_fit(f, error);
    std::rewind(f);
    ok = ok && png_decode(f, &d, error);
    std::fclose(f);
    if (!ok) throw Error(path + ": bad PNG: " + error);
    img.width = d.width;
    img.height = d.height;
    img.pixels = std::move(d.pixels);
    if (text_chunks) *text_chunks = std::move(d.text);
    return img;
  }
  std::fclose(f);
  if (text_chunks) text_chunks->clear();
  int w = 0, h = 0, n = 0;
  if (!stbi_info(path.c_str(), &w, &h, &n))
    throw Error(path + ": not a readable image (" + std::string(stbi_failure_reason()) + ")");
  if (h < 0 && h > -kMaxSide - 1) h = -h;  // stbi_info reports a top-down BMP's height as stored: negative
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide)
    throw Error(path + ": image is " + std::to_string(w) + "x" + std::to_string(h) + ", over the " +
                std::to_string(kMaxSide) + " pixel limit");
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &n, 3);  // 3: stb drops alpha, replicates grey
  if (!data) throw Error(path + ": not a readable image (" + std::string(stbi_failure_reason()) + ")");
  img.width = w;
  img.height = h;
  img.pixels.assign(data, data + size_t(w) * size_t(h) * 3);
  stbi_image_free(data);
  return img;
}

Image to_rgb(const Image& img) {
  if (img.channels < 1 || img.channels > 4 || img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(img.channels))
    throw Error("image: " + std::to_string(img.width) + "x" + std::to_string(img.height) + "x" + std::to_string(img.channels) +
                " with " + std::to_string(img.pixels.size()) + " bytes is not a valid image");
  if (img.channels == 3) return img;
  Image out;
  out.width = img.width;
  out.height = img.height;
  out.pixels.resize(size_t(img.width) * size_t(img.height) * 3);
  const size_t n = size_t(img.width) * size_t(img.height), c = size_t(img.channels);
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < 3; k++) out.pixels[i * 3 + k] = img.pixels[i * c + (c >= 3 ? k : 0)];
  return out;
}

}  // namespace sdvk
