#include "index/image_index.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace sdvk {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kApplicationId = 0x7364766B;  // "sdvk"
constexpr int64_t kVersion = 1;

const char* kSchema =
    "BEGIN;"
    "PRAGMA application_id = 1935963755;"  // kApplicationId
    "PRAGMA user_version = 1;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE images(path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    "                    model_id TEXT NOT NULL, embedding BLOB NOT NULL);"
    "COMMIT;";

// A statement finalised on every path out.
struct Stmt {
  sqlite3_stmt* s;
  ~Stmt() { sqlite3_finalize(s); }
};

// The first column of the first row of `sql` as an integer; false when SQLite refuses it.
bool query_int(sqlite3* db, const char* sql, int64_t* out) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) return false;
  Stmt guard{s};
  if (sqlite3_step(s) != SQLITE_ROW) return false;
  *out = sqlite3_column_int64(s, 0);
  return true;
}

// Why `db` is not an index of ours, "" when it is. Only reads: a foreign file stays as it was.
std::string foreign_reason(sqlite3* db) {
  int64_t app = 0, version = 0, tables = 0;
  if (!query_int(db, "PRAGMA application_id", &app)) return sqlite3_errmsg(db);
  if (app != kApplicationId) return app == 0 ? "a SQLite file of another program" : "another application id";
  if (!query_int(db, "PRAGMA user_version", &version)) return sqlite3_errmsg(db);
  if (version != kVersion)
    return "index version " + std::to_string(version) + ", this sdvk reads version " + std::to_string(kVersion);
  if (!query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'images')", &tables))
    return sqlite3_errmsg(db);
  if (tables != 2) return "its meta or images table is missing";
  return "";
}

// A new empty index at `path`, built under a temporary name and renamed into place, so a killed
// run never leaves a file without the schema.
void create(const std::string& path) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(tmp.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  char* msg = nullptr;
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, kSchema, nullptr, nullptr, &msg);
  std::string why = rc == SQLITE_OK ? "" : msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  sqlite3_close(db);
  if (rc == SQLITE_OK && std::rename(tmp.c_str(), path.c_str()) != 0) why = std::strerror(errno);
  if (!why.empty()) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error("cannot create " + path + ": " + why);
  }
}

}  // namespace

ImageIndex::ImageIndex(const std::string& path, Mode mode) : path_(path) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (!exists && mode == Mode::MustExist) throw Error(path + ": no such index");
  if (!exists) create(path);
  if (fs::is_directory(path, ec)) throw Error(path + ": is a directory, not an sdvk image index");
  // Opened read-write even to search, so that the rollback journal a killed `index` left is
  // undone (SQLite opens it read-only by itself when the file is write-protected).
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    throw Error("cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, 10000);  // another sdvk writing the same index: wait for it
  std::string why = foreign_reason(db_);
  if (!why.empty()) {
    sqlite3_close(db_);
    throw Error(path + ": not an sdvk image index (" + why + ")");
  }
}

ImageIndex::~ImageIndex() { sqlite3_close(db_); }

void ImageIndex::fail(const std::string& what) const { throw Error(path_ + ": " + what + ": " + sqlite3_errmsg(db_)); }

void ImageIndex::exec(const std::string& sql) {
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
}

sqlite3_stmt* ImageIndex::prepare(const std::string& sql) const {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) fail("cannot read");
  return s;
}

std::string ImageIndex::meta(const std::string& key) const {
  Stmt q{prepare("SELECT value FROM meta WHERE key = ?")};
  sqlite3_bind_text(q.s, 1, key.c_str(), int(key.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(q.s) != SQLITE_ROW) return "";
  const unsigned char* v = sqlite3_column_text(q.s, 0);
  return v ? reinterpret_cast<const char*>(v) : "";
}

void ImageIndex::set_meta(const std::string& key, const std::string& value) {
  Stmt q{prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)")};
  sqlite3_bind_text(q.s, 1, key.c_str(), int(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(q.s, 2, value.c_str(), int(value.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(q.s) != SQLITE_DONE) fail("cannot write meta");
}

int64_t ImageIndex::count() const {
  Stmt q{prepare("SELECT count(*) FROM images")};
  if (sqlite3_step(q.s) != SQLITE_ROW) fail("cannot count images");
  return sqlite3_column_int64(q.s, 0);
}

std::map<std::string, FileStamp> ImageIndex::stamps() const {
  Stmt q{prepare("SELECT path, size, mtime_ns FROM images")};
  std::map<std::string, FileStamp> out;
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    const unsigned char* p = sqlite3_column_text(q.s, 0);
    if (p) out[reinterpret_cast<const char*>(p)] = {sqlite3_column_int64(q.s, 1), sqlite3_column_int64(q.s, 2)};
  }
  if (rc != SQLITE_DONE) fail("cannot read images");
  return out;
}

IndexRows ImageIndex::rows(int64_t dim) const {
  Stmt q{prepare("SELECT path, embedding FROM images")};
  IndexRows out;
  out.embeddings.reserve(size_t(count() * dim));
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    const unsigned char* p = sqlite3_column_text(q.s, 0);
    std::string file = p ? reinterpret_cast<const char*>(p) : "";
    const void* blob = sqlite3_column_blob(q.s, 1);
    const int bytes = sqlite3_column_bytes(q.s, 1);
    if (!blob || int64_t(bytes) != dim * int64_t(sizeof(float)))
      throw Error(path_ + ": the embedding of " + printable(file) + " holds " + std::to_string(bytes) + " bytes, expected " +
                  std::to_string(dim) + " floats");
    const float* f = static_cast<const float*>(blob);
    out.embeddings.insert(out.embeddings.end(), f, f + dim);
    out.paths.push_back(std::move(file));
  }
  if (rc != SQLITE_DONE) fail("cannot read images");
  return out;
}

void ImageIndex::begin() { exec("BEGIN IMMEDIATE"); }
void ImageIndex::commit() { exec("COMMIT"); }

void ImageIndex::put(const std::string& file, const FileStamp& stamp, const std::string& model_id,
                     const std::vector<float>& embedding) {
  Stmt q{prepare("INSERT OR REPLACE INTO images(path, size, mtime_ns, model_id, embedding) VALUES (?, ?, ?, ?, ?)")};
  sqlite3_bind_text(q.s, 1, file.c_str(), int(file.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(q.s, 2, stamp.size);
  sqlite3_bind_int64(q.s, 3, stamp.mtime_ns);
  sqlite3_bind_text(q.s, 4, model_id.c_str(), int(model_id.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(q.s, 5, embedding.data(), int(embedding.size() * sizeof(float)), SQLITE_TRANSIENT);
  if (sqlite3_step(q.s) != SQLITE_DONE) fail("cannot write " + printable(file));
}

void ImageIndex::remove(const std::string& file) {
  Stmt q{prepare("DELETE FROM images WHERE path = ?")};
  sqlite3_bind_text(q.s, 1, file.c_str(), int(file.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(q.s) != SQLITE_DONE) fail("cannot remove " + printable(file));
}

}  // namespace sdvk
