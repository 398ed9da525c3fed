#include "text_encoder/clip_tokenizer.h"

#include <climits>
#include <filesystem>

#include "core/error.h"
#include "text_encoder/clip_text_cleanup.h"
#include "text_encoder/text_file.h"
#include "text_encoder/unicode.h"

namespace sdvk {
namespace {

// HF's CLIPTokenizer reads only this many merges (49152 tokens - 256 bytes - 2 specials).
constexpr size_t kClipMaxMerges = 49152 - 256 - 2;
// Distinct words kept in the cache before it starts over (bounds its memory).
constexpr size_t kMaxCachedWords = size_t(1) << 16;

std::string join(const std::filesystem::path& folder, const char* name) { return (folder / name).string(); }

}  // namespace

ClipTokenizer::ClipTokenizer(const std::string& folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) throw Error(folder + ": no such tokenizer folder");
  load_vocab(join(folder, "vocab.json"));
  std::string merges_path = join(folder, "merges.txt");
  merges_ = std::make_unique<BytePairMerges>(read_text_file(merges_path), merges_path, kClipMaxMerges);
  // Without merges every word falls apart into single characters: ids no CLIP model was
  // trained on, a silently wrong conditioning.
  if (merges_->merge_count() == 0) throw Error(merges_path + ": no merges (an empty or header-only file)");
  load_special_tokens(folder);

  symbol_ids_.resize(merges_->symbol_count());
  for (size_t s = 0; s < merges_->symbol_count(); s++) {
    int id = token_id(merges_->symbol(int(s)));
    symbol_ids_[s] = id >= 0 ? id : unk_id_;
  }
}

namespace {

// Reads vocab.json's {"token": id, ...} straight into the map (a SAX parse: no JSON tree for
// the ~50k entries). Anything else than one flat object of whole-number ids is refused.
class VocabReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  VocabReader(std::unordered_map<std::string, int>& vocab, std::unordered_map<int, std::string>& id_tokens)
      : vocab_(vocab), id_tokens_(id_tokens) {}
  std::string error;

  bool start_object(std::size_t) override { return ++depth_ == 1 || fail("expected a JSON object mapping tokens to ids"); }
  bool end_object() override { return --depth_ == 0 && (!vocab_.empty() || fail("holds no tokens")); }
  bool key(string_t& token) override {
    token_ = token;
    return true;
  }
  bool number_integer(number_integer_t id) override {
    return id >= 0 ? add(number_unsigned_t(id)) : fail(bad_id(std::to_string(id)));
  }
  bool number_unsigned(number_unsigned_t id) override { return add(id); }
  bool number_float(number_float_t, const string_t& text) override { return fail(bad_id(text)); }
  bool null() override { return fail(bad_id("null")); }
  bool boolean(bool) override { return fail(bad_id("true/false")); }
  bool string(string_t& text) override { return fail(bad_id("\"" + text + "\"")); }
  bool binary(binary_t&) override { return fail(bad_id("binary")); }
  bool start_array(std::size_t) override {
    return fail(depth_ == 0 ? "expected a JSON object mapping tokens to ids" : bad_id("an array"));
  }
  bool end_array() override { return false; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return fail(std::string("not valid JSON: ") + e.what());
  }

 private:
  bool fail(const std::string& message) {
    if (error.empty()) error = message;
    return false;
  }
  std::string bad_id(const std::string& value) const {
    if (depth_ != 1) return "expected a JSON object mapping tokens to ids";
    return "token '" + token_ + "': id " + value + " is not a whole number from 0 to " + std::to_string(INT_MAX);
  }
  bool add(number_unsigned_t id) {
    if (depth_ != 1) return fail("expected a JSON object mapping tokens to ids");
    if (id > number_unsigned_t(INT_MAX)) return fail(bad_id(std::to_string(id)));
    auto [it, added] = id_tokens_.emplace(int(id), token_);
    if (!added) return fail("id " + std::to_string(id) + " belongs to both '" + it->second + "' and '" + token_ + "'");
    vocab_[token_] = int(id);  // a repeated token keeps its last id, as Python's json does
    return true;
  }

  std::unordered_map<std::string, int>& vocab_;
  std::unordered_map<int, std::string>& id_tokens_;
  std::string token_;
  int depth_ = 0;
};

}  // namespace

void ClipTokenizer::load_vocab(const std::string& path) {
  std::string text = read_text_file(path);
  vocab_.reserve(text.size() / 16);
  id_tokens_.reserve(text.size() / 16);
  VocabReader reader(vocab_, id_tokens_);
  if (!nlohmann::json::sax_parse(text, &reader) || !reader.error.empty())
    throw Error(path + ": " + (reader.error.empty() ? "not valid JSON" : reader.error));
}

void ClipTokenizer::load_special_tokens(const std::string& folder) {
  // CLIPTokenizer's defaults, overridden by tokenizer_config.json, then by
  // special_tokens_map.json (the order Hugging Face applies them in).
  struct Special {
    const char* key;
    std::string token;
    std::string source;
    int* id;
  };
  Special specials[] = {{"bos_token", "<|startoftext|>", "CLIPTokenizer's defaults", &bos_id_},
                        {"eos_token", "<|endoftext|>", "CLIPTokenizer's defaults", &eos_id_},
                        {"pad_token", "<|endoftext|>", "CLIPTokenizer's defaults", &pad_id_},
                        {"unk_token", "<|endoftext|>", "CLIPTokenizer's defaults", &unk_id_}};
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    std::string path = join(folder, name);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) continue;
    nlohmann::json config = read_json_file(path);
    if (!config.is_object()) throw Error(path + ": expected a JSON object");
    for (Special& s : specials) {
      auto it = config.find(s.key);
      if (it == config.end() || it->is_null()) continue;
      // A token is a string, or an object (serialized AddedToken) whose "content" is one.
      const nlohmann::json* content = &*it;
      if (it->is_object() && it->contains("content")) content = &(*it)["content"];
      if (!content->is_string()) throw Error(path + ": " + s.key + " is neither a string nor {\"content\": string}");
      s.token = content->get<std::string>();
      s.source = path;
    }
    if (name == std::string("tokenizer_config.json"))
      if (auto length = model_max_length(config, path)) context_length_ = *length;
  }
  for (const Special& s : specials) {
    if (s.token.empty()) throw Error(s.source + ": " + s.key + " is empty");
    *s.id = token_id(s.token);
    if (*s.id < 0)
      throw Error(join(folder, "vocab.json") + ": has no " + s.key + " '" + s.token + "' (named by " + s.source + ")");
    std::u32string text = unicode::decode_utf8(s.token, s.source + ": " + s.key);
    bool known = false;
    for (const auto& existing : special_tokens_) known |= existing.first == text;
    if (!known) special_tokens_.emplace_back(std::move(text), *s.id);
  }
}

int ClipTokenizer::token_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

std::vector<int> ClipTokenizer::encode_content(const std::string& text) const {
  std::u32string chars = unicode::decode_utf8(text, "text to tokenize");
  std::vector<int> ids;
  size_t piece_start = 0;
  for (size_t at = 0; at < chars.size();) {
    // The longest special token string starting here, if any.
    const std::pair<std::u32string, int>* found = nullptr;
    for (const auto& special : special_tokens_)
      if (chars.compare(at, special.first.size(), special.first) == 0 &&
          (!found || special.first.size() > found->first.size()))
        found = &special;
    if (!found) {
      at++;
      continue;
    }
    encode_piece(std::u32string_view(chars).substr(piece_start, at - piece_start), ids);
    ids.push_back(found->second);
    at += found->first.size();
    piece_start = at;
  }
  encode_piece(std::u32string_view(chars).substr(piece_start), ids);
  return ids;
}

void ClipTokenizer::encode_piece(std::u32string_view piece, std::vector<int>& ids) const {
  if (piece.empty()) return;
  std::u32string normalized = clip_text::normalize(piece);
  for (std::u32string_view word : clip_text::split_words(normalized)) {
    std::vector<int> word_ids = encode_word(unicode::encode_utf8(word));
    ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  }
}

std::vector<int> ClipTokenizer::encode_word(const std::string& word_bytes) const {
  // HF seeds its cache so that these two words map to themselves instead of being split.
  if (word_bytes == "<|startoftext|>" || word_bytes == "<|endoftext|>") {
    int id = token_id(word_bytes);
    return {id >= 0 ? id : unk_id_};
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = word_cache_.find(word_bytes);
    if (it != word_cache_.end()) return it->second;
  }
  std::vector<int> ids;
  for (int symbol : merges_->apply(word_bytes)) ids.push_back(symbol_ids_[size_t(symbol)]);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (word_cache_.size() >= kMaxCachedWords) word_cache_.clear();
  word_cache_.emplace(word_bytes, ids);
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<int>& ids) const {
  std::string joined;
  for (int id : ids) {
    if (id == bos_id_ || id == eos_id_ || id == pad_id_) continue;
    auto it = id_tokens_.find(id);
    if (it == id_tokens_.end()) throw Error("token id " + std::to_string(id) + " is not in vocab.json");
    joined += it->second;
  }
  // Byte-level text back to bytes; "</w>" ends a word (HF: replace("</w>", " ").strip()).
  std::string text;
  for (size_t at = 0; at < joined.size();) {
    size_t end = joined.find("</w>", at);
    std::string bytes;
    std::string_view part = std::string_view(joined).substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (!from_byte_level(part, bytes)) text += part;  // not byte-level text: keep as written
    else text += bytes;
    if (end == std::string::npos) break;
    text += ' ';
    at = end + 4;
  }
  size_t first = text.find_first_not_of(' '), last = text.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
}

}  // namespace sdvk
