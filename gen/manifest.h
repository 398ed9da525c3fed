// The JSON-lines manifest of `generate --manifest FILE`: one line per image written, appended
// as the image is, with what makes the image reproducible and nothing that varies between runs
// of the same request (no timings, no device name):
//   prompt_index, batch_pos, prompt, seed, file (the path as written), clip_score and rank when
//   reranked, and the run's settings (prompt_count: the prompts in the whole file; model,
//   model_hash, loras, negative_prompt, scheduler, steps, cfg_scale, width, height, batch,
//   clip_skip, precision, base_seed, init_image, strength, best_of, rerank_clip).
// Shards append to their own files; `score --manifest` merges them.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sdvk::gen {

// Appends lines to a manifest, created when absent. One process per file: a second writer is
// refused (an advisory lock). A last line cut short by a killed run is cut off on open, so the
// file holds whole lines only.
class ManifestWriter {
 public:
  explicit ManifestWriter(const std::string& path);  // Error naming --manifest when it cannot
  ~ManifestWriter();
  ManifestWriter(const ManifestWriter&) = delete;
  ManifestWriter& operator=(const ManifestWriter&) = delete;
  // One line, in one write(2), synced to the disk before returning.
  void append(const nlohmann::json& line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

struct ManifestLine {
  int prompt_index = 0, batch_pos = 0;
  std::string prompt, file;
  nlohmann::json json;  // the whole line as read
  std::string where;    // "FILE:LINE", for errors
};

// Every line of a manifest, each checked (a JSON object with a prompt_index and batch_pos >= 0,
// a prompt and a file); Error naming the file and line otherwise.
std::vector<ManifestLine> read_manifest(const std::string& path);

// The lines of several manifests as one: sorted by prompt index, then batch position; a line a
// rerun wrote again kept once (the last one read). Error when the lines are of different runs
// (other settings), or two lines for one image differ in more than the CLIP score.
std::vector<ManifestLine> merge_manifests(const std::vector<std::string>& paths);

// The prompt indices below the lines' prompt_count that no line names (a shard not run, or not
// finished); empty when the lines have no prompt_count.
std::vector<int> missing_prompts(const std::vector<ManifestLine>& lines);

// Writes `lines` to `path` atomically (a temporary file renamed into place).
void write_manifest(const std::string& path, const std::vector<ManifestLine>& lines);

}  // namespace sdvk::gen
