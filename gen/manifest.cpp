#include "gen/manifest.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "gen/output_paths.h"

namespace sdvk::gen {

namespace {

// The fields that name one image; every other field is a setting of the run.
const char* const kImageFields[] = {"prompt_index", "batch_pos", "rank", "prompt", "seed", "file", "clip_score"};

nlohmann::json settings_of(const nlohmann::json& line) {
  nlohmann::json s = line;
  for (const char* key : kImageFields) s.erase(key);
  return s;
}

std::string dump_line(const nlohmann::json& line) {
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

int non_negative_int(const nlohmann::json& line, const char* key, const std::string& where) {
  auto it = line.find(key);
  if (it == line.end() || !it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 1000000000)
    throw Error(where + ": '" + key + "' must be a whole number >= 0");
  return int(it->get<int64_t>());
}

std::string text_field(const nlohmann::json& line, const char* key, const std::string& where) {
  auto it = line.find(key);
  if (it == line.end() || !it->is_string() || it->get<std::string>().empty())
    throw Error(where + ": '" + key + "' must be a non-empty string");
  return it->get<std::string>();
}

}  // namespace

ManifestWriter::ManifestWriter(const std::string& path) : path_(path) {
  if (path.empty()) throw Error("--manifest: empty file name");
  check_writable_folder(path, "--manifest");
  fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) throw Error("--manifest " + path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  std::string problem;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) problem = "not a regular file";
  else if (::flock(fd_, LOCK_EX | LOCK_NB) != 0)
    problem = "in use by another process (give each shard its own manifest)";
  if (!problem.empty()) {
    ::close(fd_);
    throw Error("--manifest " + path + ": " + problem);
  }
  // A run killed inside write(2) (or a lost node) can leave a line without its newline: cut it.
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() != '\n') {
    const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    std::fprintf(stderr, "warning: --manifest %s: cut off a last line left unfinished (%zu bytes)\n", path.c_str(),
                 text.size() - keep);
    if (::ftruncate(fd_, off_t(keep)) != 0) {
      ::close(fd_);
      throw Error("--manifest " + path + ": cannot cut its unfinished last line (" + std::strerror(errno) + ")");
    }
  }
}

ManifestWriter::~ManifestWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void ManifestWriter::append(const nlohmann::json& line) {
  if (!write_all(fd_, dump_line(line)) || ::fsync(fd_) != 0)
    throw Error("--manifest " + path_ + ": cannot append (" + std::strerror(errno) + ")");
}

std::vector<ManifestLine> read_manifest(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error("manifest " + path + ": is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("manifest " + path + ": cannot read (" + std::strerror(errno) + ")");
  std::vector<ManifestLine> lines;
  int line_no = 0;
  for (std::string text; std::getline(in, text);) {
    line_no++;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    ManifestLine m;
    m.where = path + ":" + std::to_string(line_no);
    m.json = nlohmann::json::parse(text, nullptr, false);
    if (!m.json.is_object()) throw Error(m.where + ": not a JSON object (a line of generate --manifest)");
    m.prompt_index = non_negative_int(m.json, "prompt_index", m.where);
    m.batch_pos = non_negative_int(m.json, "batch_pos", m.where);
    m.prompt = text_field(m.json, "prompt", m.where);
    m.file = text_field(m.json, "file", m.where);
    lines.push_back(std::move(m));
  }
  return lines;
}

std::vector<ManifestLine> merge_manifests(const std::vector<std::string>& paths) {
  std::map<std::pair<int, int>, ManifestLine> by_image;  // sorted by prompt, then batch position
  const ManifestLine* first = nullptr;
  std::vector<ManifestLine> all;
  for (const std::string& path : paths)
    for (ManifestLine& m : read_manifest(path)) all.push_back(std::move(m));
  for (ManifestLine& m : all) {
    if (!first) first = &m;
    else if (settings_of(m.json) != settings_of(first->json))
      throw Error(m.where + ": other settings than " + first->where + " (" + settings_of(m.json).dump() + " vs " +
                  settings_of(first->json).dump() + "): the manifests are of different runs");
    auto [it, fresh] = by_image.emplace(std::pair{m.prompt_index, m.batch_pos}, m);
    if (fresh) continue;
    nlohmann::json a = it->second.json, b = m.json;
    a.erase("clip_score");
    b.erase("clip_score");
    if (a != b)
      throw Error(m.where + ": prompt " + std::to_string(m.prompt_index) + " image " + std::to_string(m.batch_pos) +
                  " is also in " + it->second.where + " with another prompt, seed or file");
    it->second = m;  // the rerun's line
  }
  if (by_image.empty()) throw Error("manifest: no lines in " + std::to_string(paths.size()) + " file(s)");
  std::vector<ManifestLine> merged;
  for (auto& [key, m] : by_image) merged.push_back(std::move(m));
  return merged;
}

std::vector<int> missing_prompts(const std::vector<ManifestLine>& lines) {
  std::vector<int> missing;
  if (lines.empty() || !lines.front().json.contains("prompt_count")) return missing;
  const nlohmann::json& count = lines.front().json["prompt_count"];
  if (!count.is_number_unsigned() || count.get<uint64_t>() > 1000000000) return missing;
  std::set<int> seen;
  for (const ManifestLine& m : lines) seen.insert(m.prompt_index);
  for (int p = 0; p < count.get<int>(); p++)
    if (!seen.count(p)) missing.push_back(p);
  return missing;
}

void write_manifest(const std::string& path, const std::vector<ManifestLine>& lines) {
  std::ostringstream text;
  for (const ManifestLine& m : lines) text << dump_line(m.json);
  const std::string temp = path + ".part." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text.str();
    out.flush();
    if (!out) {
      std::remove(temp.c_str());
      throw Error("--merged " + path + ": cannot write " + temp);
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temp.c_str());
    throw Error("--merged " + path + ": cannot rename into place (" + why + ")");
  }
}

}  // namespace sdvk::gen
