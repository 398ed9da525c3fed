#include "index/image_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "core/error.h"

namespace sdvk {
namespace {

namespace fs = std::filesystem;

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// Size and nanosecond mtime through stat(): std::filesystem has no portable nanosecond mtime.
bool stamp_of(const std::string& path, FileStamp* out) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out->size = int64_t(st.st_size);
  out->mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + int64_t(st.st_mtim.tv_nsec);
  return true;
}

}  // namespace

std::vector<ImageFile> find_images(const std::vector<std::string>& dirs, std::vector<std::string>* roots) {
  std::set<std::string> seen;
  std::vector<ImageFile> out;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw Error(dir + (fs::exists(dir, ec) ? ": not a folder" : ": no such folder"));
    fs::path root = fs::canonical(dir, ec);
    if (ec) throw Error(dir + ": " + ec.message());
    roots->push_back(root.string());
    auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!has_image_extension(it->path())) continue;
      fs::path file = fs::canonical(it->path(), ec);  // a link counts once, as its target
      ImageFile f;
      if (ec || !stamp_of(file.string(), &f.stamp)) {
        ec.clear();
        continue;
      }
      f.path = file.string();
      if (seen.insert(f.path).second) out.push_back(std::move(f));
    }
    if (ec) throw Error(dir + ": cannot list: " + ec.message());
  }
  std::sort(out.begin(), out.end(), [](const ImageFile& a, const ImageFile& b) { return a.path < b.path; });
  return out;
}

std::vector<ImageFile> listed_images(const std::vector<std::string>& paths, std::vector<std::string>* missing) {
  std::set<std::string> seen;
  std::vector<ImageFile> out;
  for (const std::string& path : paths) {
    std::error_code ec;
    fs::path file = fs::canonical(path, ec);
    ImageFile f;
    if (ec || !stamp_of(file.string(), &f.stamp)) {
      missing->push_back(path);
      continue;
    }
    f.path = file.string();
    if (seen.insert(f.path).second) out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const ImageFile& a, const ImageFile& b) { return a.path < b.path; });
  return out;
}

bool is_under(const std::string& path, const std::string& root) {
  if (root == "/") return path.size() > 1 && path[0] == '/';
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/';
}

}  // namespace sdvk
