// The image index of `sdvk index` / `sdvk search`: one SQLite file holding, per image, its
// canonical path, size, modification time, the CLIP model id and its normalised image
// embedding (float32 blob, host byte order). Schema (version 1):
//   meta(key TEXT PRIMARY KEY, value TEXT)        model_id, model_path
//   images(path TEXT PRIMARY KEY, size, mtime_ns, model_id TEXT, embedding BLOB)
// with PRAGMA application_id 'sdvk' and user_version 1, so a foreign file is told apart
// before anything is written to it. Writes go through transactions (begin/commit): a killed
// process leaves the last committed state, which SQLite restores on the next open.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace sdvk {

struct FileStamp {
  int64_t size = 0, mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// Every row at once, for a brute-force scan: paths[i] has embeddings[i*dim .. (i+1)*dim).
struct IndexRows {
  std::vector<std::string> paths;
  std::vector<float> embeddings;
};

class ImageIndex {
 public:
  enum class Mode { MustExist, Create };

  // Opens `path`. A missing file is an Error, or with Mode::Create a new empty index (bound to
  // no model), made whole or not at all (built beside it and renamed). Throws Error("PATH: not an sdvk image
  // index (why)") for a file that is not SQLite or lacks this schema; it is left untouched.
  ImageIndex(const std::string& path, Mode mode);
  ~ImageIndex();
  ImageIndex(const ImageIndex&) = delete;
  ImageIndex& operator=(const ImageIndex&) = delete;

  const std::string& path() const { return path_; }
  std::string meta(const std::string& key) const;  // "" when absent
  void set_meta(const std::string& key, const std::string& value);

  int64_t count() const;
  std::map<std::string, FileStamp> stamps() const;  // path -> stamp of every row
  // Every row, in storage order (a table scan: no index lookups); Error naming a row whose blob
  // is not dim floats.
  IndexRows rows(int64_t dim) const;

  void begin();
  void commit();
  void put(const std::string& file, const FileStamp& stamp, const std::string& model_id, const std::vector<float>& embedding);
  void remove(const std::string& file);

 private:
  void exec(const std::string& sql);
  sqlite3_stmt* prepare(const std::string& sql) const;
  [[noreturn]] void fail(const std::string& what) const;  // Error with SQLite's message

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace sdvk
