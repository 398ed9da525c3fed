// What a text encoder needs from a tokenizer, whichever kind it is (CLIP's byte-level BPE or a
// sentencepiece model): content ids for a text, the special ids, and the fixed-length window
// the model reads.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace sdvk {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The ids of `text` alone: no bos/eos, not truncated, not padded. Throws Error when `text`
  // is not valid UTF-8.
  virtual std::vector<int> encode_content(const std::string& text) const = 0;
  // The text of `ids`, skipping bos/eos/pad; throws Error on an id outside the vocabulary.
  virtual std::string decode(const std::vector<int>& ids) const = 0;

  virtual int bos_id() const = 0;  // -1: the model's windows have no bos (T5)
  virtual int eos_id() const = 0;  // -1: no eos
  virtual int pad_id() const = 0;
  virtual int vocab_size() const = 0;
  // The window length the model reads (77 for CLIP).
  virtual int context_length() const = 0;

  // bos + content + eos, unpadded (bos/eos left out where the tokenizer has none).
  std::vector<int> encode(const std::string& text) const;
  // The model's window: bos + the first content_capacity(length) content ids + eos, then
  // pad_id (or `pad`) up to `length`. Longer texts are truncated, as Hugging Face does with
  // truncation=True, padding="max_length".
  std::vector<int> encode_padded(const std::string& text, int length) const;
  std::vector<int> encode_padded(const std::string& text, int length, int pad) const;
  // Wraps content ids (at most content_capacity(length)) into a window the same way.
  std::vector<int> wrap_window(const std::vector<int>& content, int length, int pad) const;
  // How many content ids fit a window of `length` next to bos and eos (75 of 77 for CLIP).
  int content_capacity(int length) const;
};

// A CLIP tokenizer folder (vocab.json + merges.txt), a folder holding spiece.model, or a
// sentencepiece .model file, chosen by what `path` is. Throws Error naming the file that is missing or bad.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace sdvk
