// Output file names from a --output pattern, never overwriting silently.
//   {n}      a counter: the next number (00001, 00002, ...) whose file does not exist yet
//   {seed}   the image's seed       {index}  its position in the batch (0-based)
//   {rank}   its rank after CLIP reranking (1 = best; 0 when not reranked)
//   {prompt} the prompt's index in --prompts-file (0-based; 0 for a single prompt)
// A pattern without {n} that names an existing file is an error unless overwrite is set; so is
// a pattern that names the same file for two images of one run.
#pragma once
#include <cstdint>
#include <set>
#include <string>

namespace sdvk::gen {

struct OutputFields {
  uint64_t seed = 0;
  int index = 0, rank = 0, prompt = 0;
};

class OutputPaths {
 public:
  // Checks the pattern and that its folder exists and is writable (an Error naming --output
  // otherwise), so a long run does not end in an unwritable path.
  OutputPaths(std::string pattern, bool overwrite);
  // The path for one image; Error when it would overwrite.
  std::string next(const OutputFields& fields);
  // The path of one image named without {n}, unchecked (what next() would return).
  std::string name(const OutputFields& fields) const { return expand(fields, 0); }

 private:
  std::string expand(const OutputFields& fields, int counter) const;

  std::string pattern_;
  bool overwrite_, has_counter_;
  int counter_ = 0;
  std::set<std::string> used_;
};

// The folder of `path` ("." when none) exists and is writable; Error naming `flag` otherwise.
void check_writable_folder(const std::string& path, const std::string& flag);

// `path` can be written by `flag` before any work starts: its folder is writable, what is
// there (if anything) is a regular file (or a link to one), and an existing file is replaced
// only with `overwrite`. Error naming `flag` otherwise.
void check_output_file(const std::string& path, const std::string& flag, bool overwrite);

}  // namespace sdvk::gen
