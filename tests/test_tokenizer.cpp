// Tokenizers: CLIP BPE against Hugging Face's ids (cases.json) and Python's Unicode
// (reference_cases.json), padding, config files and their errors; Unicode helpers; emphasis
// parsing and long-prompt windows; the sentencepiece wrapper on a model trained here.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text_encoder/clip_text_cleanup.h"
#include "text_encoder/clip_tokenizer.h"
#include "text_encoder/prompt_weights.h"
#include "text_encoder/sentencepiece_tokenizer.h"
#include "text_encoder/unicode.h"
#include "tests/support/error_of.h"

namespace sdvk {
namespace {

namespace fs = std::filesystem;
const std::string kClipDir = std::string(SDVK_TEST_DATA) + "/clip_tokenizer";
constexpr int kBos = 49406, kEos = 49407;

const ClipTokenizer& clip() {
  static const ClipTokenizer tokenizer(kClipDir);
  return tokenizer;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A fresh directory under the system temp dir, removed with the object.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sdvk_tokenizer_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return (path / name).string();
  }
};

// A tokenizer folder holding the real vocab and merges plus the given config files.
void copy_clip_files(const TempDir& dir) {
  fs::copy_file(kClipDir + "/vocab.json", dir.path / "vocab.json");
  fs::copy_file(kClipDir + "/merges.txt", dir.path / "merges.txt");
}

using test::error_of;

// ---- CLIP ids ----

TEST(ClipTokenizer, ReproducesEveryHuggingFaceCase) {
  nlohmann::json cases = read_json(kClipDir + "/cases.json");
  ASSERT_GE(cases.size(), 13u);
  for (const auto& c : cases)
    EXPECT_EQ(clip().encode(c["text"].get<std::string>()), c["ids"].get<std::vector<int>>()) << c["text"];
}

TEST(ClipTokenizer, ReproducesPythonUnicodeReferenceCases) {
  nlohmann::json cases = read_json(kClipDir + "/reference_cases.json")["cases"];
  ASSERT_GE(cases.size(), 15u);
  for (const auto& c : cases)
    EXPECT_EQ(clip().encode(c["text"].get<std::string>()), c["ids"].get<std::vector<int>>()) << c["text"];
}

TEST(ClipTokenizer, SpecialIdsAndConfigFromTheFolder) {
  EXPECT_EQ(clip().bos_id(), kBos);
  EXPECT_EQ(clip().eos_id(), kEos);
  EXPECT_EQ(clip().pad_id(), kEos);
  EXPECT_EQ(clip().unk_id(), kEos);
  EXPECT_EQ(clip().vocab_size(), 49408);
  EXPECT_EQ(clip().context_length(), 77);
  EXPECT_EQ(clip().token_id(",</w>"), 267);
}

TEST(ClipTokenizer, PadsAndTruncatesToTheContext) {
  std::vector<int> ids = clip().encode_padded("a photo of a cat", 77);
  std::vector<int> expected = {kBos, 320, 1125, 539, 320, 2368, kEos};
  expected.resize(77, kEos);
  EXPECT_EQ(ids, expected);

  // 100 words: bos + the first 75 + eos, nothing padded.
  std::string long_text;
  for (int i = 0; i < 100; i++) long_text += "cat ";
  ids = clip().encode_padded(long_text, 77);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids[0], kBos);
  EXPECT_EQ(ids[75], 2368);
  EXPECT_EQ(ids[76], kEos);
  EXPECT_EQ(clip().encode(long_text).size(), 102u);  // unpadded keeps everything

  // Exactly 75 content tokens fill the window with no padding; an explicit pad id is used.
  std::string text75;
  for (int i = 0; i < 75; i++) text75 += "a ";
  ids = clip().encode_padded(text75, 77, 0);
  EXPECT_EQ(ids[75], 320);
  EXPECT_EQ(ids[76], kEos);
  ids = clip().encode_padded("a", 8, 0);
  EXPECT_EQ(ids, (std::vector<int>{kBos, 320, kEos, 0, 0, 0, 0, 0}));
  EXPECT_NE(error_of([] { clip().encode_padded("a", 2); }), "");
}

TEST(ClipTokenizer, DecodesBackToTheCleanedText) {
  EXPECT_EQ(clip().decode(clip().encode("A Photo of a CAT!!")), "a photo of a cat !!");
  EXPECT_EQ(clip().decode(clip().encode("emoji 🐶 and 日本語")), "emoji 🐶 and 日本語");
  EXPECT_EQ(clip().decode(clip().encode_padded("café", 77)), "café");
  EXPECT_NE(error_of([] { clip().decode({49408}); }).find("token id 49408"), std::string::npos);
}

TEST(ClipTokenizer, RejectsInvalidUtf8Text) {
  for (std::string bad : {"a\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "abc\xe2\x82"})
    EXPECT_NE(error_of([&] { clip().encode(bad); }).find("not valid UTF-8"), std::string::npos) << bad;
}

// ---- a hand-made folder: BPE ranks, unknown symbols, config precedence ----

struct TinyFolder : TempDir {
  TinyFolder() {
    file("vocab.json",
         R"({"a": 0, "b": 1, "a</w>": 2, "b</w>": 3, "ab</w>": 4, "ba": 5, "bab</w>": 6, "!": 7,
             "<|startoftext|>": 8, "<|endoftext|>": 9})");
    // "a b</w>" outranks "b a": in "bab", a+b</w> merges first, leaving b + ab</w>.
    file("merges.txt", "#version: 0.2\na b</w>\nb a\nba b</w>\n");
  }
};

TEST(ClipTokenizer, AppliesMergesByRankAndMapsUnknownsToUnk) {
  TinyFolder dir;
  ClipTokenizer tiny(dir.path.string());
  EXPECT_EQ(tiny.encode_content("ab"), (std::vector<int>{4}));
  EXPECT_EQ(tiny.encode_content("bab"), (std::vector<int>{1, 4}));   // not "ba" + "b</w>"
  EXPECT_EQ(tiny.encode_content("baa"), (std::vector<int>{5, 2}));   // b a first, then a</w> alone
  EXPECT_EQ(tiny.encode_content("c"), (std::vector<int>{9}));        // "c</w>" unknown -> unk
  EXPECT_EQ(tiny.encode("a b"), (std::vector<int>{8, 2, 3, 9}));
}

TEST(ClipTokenizer, SpecialTokensMapOverridesTokenizerConfig) {
  TinyFolder dir;
  dir.file("tokenizer_config.json", R"({"pad_token": "<|endoftext|>", "model_max_length": 8})");
  dir.file("special_tokens_map.json", R"({"pad_token": {"content": "!", "lstrip": false}})");
  ClipTokenizer tiny(dir.path.string());
  EXPECT_EQ(tiny.pad_id(), 7);
  EXPECT_EQ(tiny.context_length(), 8);
  EXPECT_EQ(tiny.encode_padded("ab", 6), (std::vector<int>{8, 4, 9, 7, 7, 7}));
  // A special token string is cut out of the text before the regex sees it (as HF does).
  EXPECT_EQ(tiny.encode_content("ab!ab"), (std::vector<int>{4, 7, 4}));
}

TEST(ClipTokenizer, Sd2StylePadZeroFromRealFiles) {
  TempDir dir;
  copy_clip_files(dir);
  dir.file("special_tokens_map.json", R"({"pad_token": "!"})");
  ClipTokenizer sd2(dir.path.string());
  std::vector<int> ids = sd2.encode_padded("a photo of a cat", 77);
  EXPECT_EQ(sd2.pad_id(), 0);
  EXPECT_EQ(ids[6], kEos);
  EXPECT_EQ(ids[7], 0);
  EXPECT_EQ(ids[76], 0);
}

TEST(ClipTokenizer, MissingOrCorruptFilesNameTheFile) {
  EXPECT_NE(error_of([] { ClipTokenizer("/nonexistent/tokenizer"); }).find("/nonexistent/tokenizer"),
            std::string::npos);
  {
    TinyFolder dir;
    fs::remove(dir.path / "vocab.json");
    std::string e = error_of([&] { ClipTokenizer(dir.path.string()); });
    EXPECT_NE(e.find("vocab.json: cannot open"), std::string::npos) << e;
  }
  {
    TinyFolder dir;
    fs::remove(dir.path / "merges.txt");
    EXPECT_NE(error_of([&] { ClipTokenizer(dir.path.string()); }).find("merges.txt: cannot open"), std::string::npos);
  }
  const std::pair<std::string, std::string> bad_files[] = {
      {"vocab.json", R"({"a": 0, "b": )"},  // truncated
      {"vocab.json", R"(["a", "b"])"},
      {"vocab.json", R"({"a": 0, "b": "1"})"},
      {"vocab.json", R"({"a": 0, "b": -1})"},
      {"vocab.json", R"({"a": 0, "b": 0})"},  // one id, two tokens
      {"merges.txt", "#version: 0.2\na b\nabc\n"},
      {"merges.txt", ""},                  // no merges: every word would fall apart into characters
      {"merges.txt", "#version: 0.2\n"},
      {"tokenizer_config.json", "{not json"},
      {"tokenizer_config.json", R"({"pad_token": 5})"},
      {"tokenizer_config.json", R"({"pad_token": "<|notthere|>"})"},
      {"tokenizer_config.json", R"({"model_max_length": -3})"},
      {"special_tokens_map.json", R"({"bos_token": {"contents": "x"}})"},
  };
  const char* expected_detail[] = {"not valid JSON", "expected a JSON object", "'b'", "'b'", "belongs to both",
                                   "line 3", "no merges", "no merges", "not valid JSON", "pad_token", "<|notthere|>", "model_max_length",
                                   "bos_token"};
  for (size_t i = 0; i < std::size(bad_files); i++) {
    TinyFolder dir;
    std::string path = dir.file(bad_files[i].first, bad_files[i].second);
    std::string e = error_of([&] { ClipTokenizer(dir.path.string()); });
    EXPECT_NE(e.find(path), std::string::npos) << e;
    EXPECT_NE(e.find(expected_detail[i]), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
}

TEST(ClipTokenizer, LoadTokenizerPicksTheKindFromThePath) {
  TinyFolder dir;
  EXPECT_NE(dynamic_cast<ClipTokenizer*>(load_tokenizer(dir.path.string()).get()), nullptr);
  EXPECT_NE(error_of([] { load_tokenizer("/nonexistent/spiece.model"); }).find("/nonexistent/spiece.model"),
            std::string::npos);
}

// ---- Unicode helpers and the pre-tokenizer ----

TEST(Unicode, ClassesCaseAndNormalization) {
  EXPECT_TRUE(unicode::is_letter(U'é') && unicode::is_letter(U'語') && unicode::is_letter(U'ǅ'));
  EXPECT_FALSE(unicode::is_letter(U'1') || unicode::is_letter(U'🐶') || unicode::is_letter(0x301));
  EXPECT_TRUE(unicode::is_number(U'٣') && unicode::is_number(U'Ⅻ') && unicode::is_number(U'½'));
  EXPECT_TRUE(unicode::is_whitespace(0x3000) && unicode::is_whitespace(0x1C) && !unicode::is_whitespace(0x200B));
  EXPECT_EQ(unicode::to_lower(U"ΟΔΟΣ ΣΑ Σ"), U"οδος σα σ");  // final sigma only after a letter
  EXPECT_EQ(unicode::to_lower(U"İK\u212A"), U"i\u0307kk");
  EXPECT_EQ(unicode::to_nfc(U"e\u0301"), U"é");
  EXPECT_EQ(unicode::to_nfc(U"a\u0323\u0302"), U"\u1EAD");  // ậ from either mark order
  EXPECT_EQ(unicode::to_nfc(U"a\u0302\u0323"), U"\u1EAD");
  EXPECT_EQ(unicode::to_nfc(U"\u1112\u1161\u11AB"), U"한");
  EXPECT_EQ(unicode::to_nfc(U"\u212B"), U"Å");  // singleton decomposition
  EXPECT_EQ(unicode::encode_utf8(unicode::decode_utf8("añ語🐶", "t")), "añ語🐶");
}

TEST(ClipText, NormalizesAndSplitsLikeTheRegex) {
  std::u32string text = clip_text::normalize(U"  It's\t\tA  CAT's 12 <|EndOfText|>!?  ");
  EXPECT_EQ(text, U"it's a cat's 12 <|endoftext|>!?");
  std::vector<std::u32string> words;
  for (auto w : clip_text::split_words(text)) words.emplace_back(w);
  EXPECT_EQ(words, (std::vector<std::u32string>{U"it", U"'s", U"a", U"cat", U"'s", U"1", U"2", U"<|endoftext|>",
                                                 U"!?"}));
}

// ---- emphasis ----

std::vector<std::pair<std::string, double>> parsed(const std::string& prompt) {
  std::vector<std::pair<std::string, double>> out;
  for (const WeightedText& p : parse_prompt_weights(prompt)) out.emplace_back(p.is_break ? "BREAK" : p.text, p.is_break ? -1 : p.weight);
  return out;
}

void expect_parsed(const std::string& prompt, const std::vector<std::pair<std::string, double>>& expected) {
  auto got = parsed(prompt);
  ASSERT_EQ(got.size(), expected.size()) << prompt;
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].first, expected[i].first) << prompt << " piece " << i;
    EXPECT_NEAR(got[i].second, expected[i].second, 1e-12) << prompt << " piece " << i;
  }
}

TEST(PromptWeights, A1111DocExamples) {
  // The examples in A1111's parse_prompt_attention docstring.
  expect_parsed("normal text", {{"normal text", 1.0}});
  expect_parsed("an (important) word", {{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}});
  expect_parsed("(unbalanced", {{"unbalanced", 1.1}});
  expect_parsed("\\(literal\\]", {{"(literal]", 1.0}});
  expect_parsed("(unnecessary)(parens)", {{"unnecessaryparens", 1.1}});
  expect_parsed("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
                {{"a ", 1.0}, {"house", 1.5730000000000004}, {" ", 1.1}, {"on", 1.0}, {" a ", 1.1},
                 {"hill", 0.55}, {", sun, ", 1.1}, {"sky", 1.4641000000000006}, {".", 1.1}});
}

TEST(PromptWeights, NestingEscapesExplicitAndUnbalanced) {
  expect_parsed("((word))", {{"word", 1.21}});
  expect_parsed("[[word]]", {{"word", 1 / 1.1 / 1.1}});
  expect_parsed("([word])", {{"word", 1.0}});
  expect_parsed("(word:1.3)", {{"word", 1.3}});
  expect_parsed("(word : -0.5 )", {{"word ", -0.5}});
  expect_parsed("((a:2) b)", {{"a", 2.2}, {" b", 1.1}});
  expect_parsed("\\(a\\) \\\\ \\x", {{"(a) \\ x", 1.0}});  // a lone backslash is dropped
  expect_parsed("(\\(a\\))", {{"(a)", 1.1}});           // escapes inside brackets are weighted
  expect_parsed("a) b]", {{"a) b]", 1.0}});              // nothing open: plain text
  expect_parsed("a:1.5) b", {{"a:1.5) b", 1.0}});        // weight with no "(" open
  expect_parsed("[a", {{"a", 1 / 1.1}});
  expect_parsed("(a [b) c]", {{"a ", 1.1}, {"b", 1.0}, {" c", 1 / 1.1}});  // round and square apart
  expect_parsed("(a:1.2.3)", {{"a:1.2.3", 1.1}});       // not a number: ':' is text
  expect_parsed("time: 12:30", {{"time: 12:30", 1.0}});
  expect_parsed("", {{"", 1.0}});
  expect_parsed("()", {{"", 1.0}});
}

TEST(PromptWeights, BreakSplitsOnlyTheWord) {
  expect_parsed("a BREAK b", {{"a", 1.0}, {"BREAK", -1}, {"b", 1.0}});
  expect_parsed("BREAKFAST, a_BREAK break", {{"BREAKFAST, a_BREAK break", 1.0}});
  expect_parsed("a,BREAK BREAK(b)", {{"a,", 1.0}, {"BREAK", -1}, {"", 1.0}, {"BREAK", -1}, {"", 1.0}, {"b", 1.1}});
}

// ---- windows ----

TEST(PromptWindows, WeightsFollowTheirTokens) {
  std::vector<PromptWindow> w = encode_weighted_prompt(clip(), "a (photo:1.5) of [cat]");
  ASSERT_EQ(w.size(), 1u);
  std::vector<int> ids = {kBos, 320, 1125, 539, 2368, kEos};
  ids.resize(77, kEos);
  EXPECT_EQ(w[0].ids, ids);
  ASSERT_EQ(w[0].weights.size(), 77u);
  EXPECT_FLOAT_EQ(w[0].weights[0], 1.0f);
  EXPECT_FLOAT_EQ(w[0].weights[1], 1.0f);
  EXPECT_FLOAT_EQ(w[0].weights[2], 1.5f);
  EXPECT_FLOAT_EQ(w[0].weights[3], 1.0f);
  EXPECT_FLOAT_EQ(w[0].weights[4], float(1 / 1.1));
  EXPECT_FLOAT_EQ(w[0].weights[5], 1.0f);
  EXPECT_FLOAT_EQ(w[0].weights[76], 1.0f);
  // Without emphasis syntax the window is exactly encode_padded's.
  EXPECT_EQ(encode_weighted_prompt(clip(), "A Photo of a CAT!!")[0].ids, clip().encode_padded("A Photo of a CAT!!", 77));
  // Pieces are tokenized apart: "(a)(b)" joins to "ab", but "a(b:2)" splits "a" | "b".
  EXPECT_EQ(encode_weighted_prompt(clip(), "(photo)(graph)")[0].ids[1], clip().encode_content("photograph")[0]);
  EXPECT_EQ(encode_weighted_prompt(clip(), "photo(graph:2)")[0].ids[1], clip().encode_content("photo")[0]);
}

// WindowOptions::pad: the pad a single file's release tokenizer uses (OpenCLIP's "!", id 0)
// instead of the bundled tokenizer's own.
TEST(PromptWindows, PadOverride) {
  WindowOptions bang;
  bang.pad = 0;
  std::vector<int> ids = {kBos, 320, 1125, kEos};
  ids.resize(77, 0);
  EXPECT_EQ(encode_weighted_prompt(clip(), "a photo", bang)[0].ids, ids);
}

TEST(PromptWindows, LongPromptsBecomeSeveralWindows) {
  std::string text;
  for (int i = 0; i < 160; i++) text += i < 80 ? "cat " : "(dog) ";
  std::vector<PromptWindow> w = encode_weighted_prompt(clip(), text);
  ASSERT_EQ(w.size(), 3u);  // 75 + 75 + 10
  for (const auto& window : w) {
    ASSERT_EQ(window.ids.size(), 77u);
    ASSERT_EQ(window.weights.size(), 77u);
    EXPECT_EQ(window.ids[0], kBos);
    EXPECT_EQ(window.ids[76], kEos);
  }
  EXPECT_EQ(w[0].ids[75], 2368);
  EXPECT_EQ(w[1].ids[5], 2368);  // cats 76..80
  EXPECT_EQ(w[1].ids[6], 1929);  // then dogs
  EXPECT_FLOAT_EQ(w[1].weights[5], 1.0f);
  EXPECT_FLOAT_EQ(w[1].weights[6], 1.1f);
  EXPECT_EQ(w[2].ids[10], 1929);
  EXPECT_EQ(w[2].ids[11], kEos);
  EXPECT_EQ(w[2].ids[12], kEos);  // pad
  EXPECT_FLOAT_EQ(w[2].weights[12], 1.0f);
  // Exactly 75 tokens stay one window; an empty prompt is one window too.
  std::string text75;
  for (int i = 0; i < 75; i++) text75 += "a ";
  EXPECT_EQ(encode_weighted_prompt(clip(), text75).size(), 1u);
  std::vector<int> empty = {kBos, kEos};
  empty.resize(77, kEos);
  EXPECT_EQ(encode_weighted_prompt(clip(), "")[0].ids, empty);
}

TEST(PromptWindows, HostilePromptsAreRefusedAtOnce) {
  // Limits far beyond real use (issue 17: a 1 MB prompt took over a minute, 500 BREAKs 20 s).
  EXPECT_NE(error_of([] { encode_weighted_prompt(clip(), std::string(kMaxPromptBytes + 1, 'a')); }).find("over the limit of 8192"),
            std::string::npos);
  std::string breaks = "a";
  for (int i = 0; i < kMaxPromptWindows; i++) breaks += " BREAK a";
  EXPECT_NE(error_of([&] { encode_weighted_prompt(clip(), breaks); }).find("32 BREAKs, over the limit of 31"),
            std::string::npos);
  breaks.resize(breaks.size() - std::string(" BREAK a").size());
  EXPECT_EQ(encode_weighted_prompt(clip(), breaks).size(), size_t(kMaxPromptWindows));  // the limit itself is fine
  std::string words;
  for (int i = 0; i < 75 * kMaxPromptWindows + 1; i++) words += "a ";
  EXPECT_NE(error_of([&] { encode_weighted_prompt(clip(), words); }).find("needs 33 windows"), std::string::npos);
  EXPECT_NE(error_of([] { check_prompt_text(std::string("a\0b", 3), "--prompts-file p line 2"); })
                .find("--prompts-file p line 2: the prompt holds a NUL byte"),
            std::string::npos);
  EXPECT_NE(error_of([] { check_prompt_text("a \xff", "--prompt"); }).find("--prompt: not valid UTF-8"), std::string::npos);
}

TEST(PromptWindows, BreakAndCommaBacktrack) {
  std::vector<PromptWindow> w = encode_weighted_prompt(clip(), "a cat BREAK a dog");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(std::vector<int>(w[0].ids.begin(), w[0].ids.begin() + 4), (std::vector<int>{kBos, 320, 2368, kEos}));
  EXPECT_EQ(std::vector<int>(w[1].ids.begin(), w[1].ids.begin() + 4), (std::vector<int>{kBos, 320, 1929, kEos}));
  EXPECT_EQ(encode_weighted_prompt(clip(), "a cat BREAK").size(), 1u);

  // 70 cats, a comma, then 10 dogs: the window fills at 75 with the comma 4 tokens back.
  std::string text;
  for (int i = 0; i < 70; i++) text += "cat ";
  text += ", ";
  for (int i = 0; i < 10; i++) text += "dog ";
  w = encode_weighted_prompt(clip(), text);  // plain windows: cut at 75
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].ids[75], 1929);
  w = encode_weighted_prompt(clip(), text, {.length = 0, .comma_backtrack = 20});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].ids[71], 267);   // the comma ends the first window
  EXPECT_EQ(w[0].ids[72], kEos);
  EXPECT_EQ(w[1].ids[1], 1929);   // all ten dogs moved on
  EXPECT_EQ(w[1].ids[10], 1929);
  EXPECT_EQ(w[1].ids[11], kEos);
  w = encode_weighted_prompt(clip(), text, {.length = 0, .comma_backtrack = 3});  // comma too far back
  EXPECT_EQ(w[0].ids[75], 1929);
}

// ---- sentencepiece ----

// Trains a small unigram model once per test binary; returns the .model path.
const std::string& trained_model() {
  static TempDir dir;
  static const std::string path = [] {
    const char* subjects[] = {"the cat", "a dog", "my bird", "the horse", "an owl", "our fish", "jazzy wolves",
                              "quick zebras"};
    const char* verbs[] = {"sees", "likes", "paints", "follows", "draws", "jumps over", "watches", "knows"};
    const char* objects[] = {"a red apple", "the blue sea", "green hills", "a tall tower", "the old moon",
                             "six yellow boxes", "a violet sky", "warm quiet rain"};
    std::string corpus;
    for (int i = 0; i < 512; i++)
      corpus += std::string(subjects[i % 8]) + " " + verbs[i / 8 % 8] + " " + objects[i / 64 % 8] + "\n";
    std::string input = dir.file("corpus.txt", corpus);
    std::string prefix = (dir.path / "tiny").string();
    auto status = sentencepiece::SentencePieceTrainer::Train("--input=" + input + " --model_prefix=" + prefix +
                                                             " --vocab_size=60 --minloglevel=2");
    if (!status.ok()) throw std::runtime_error("training failed: " + status.ToString());
    return prefix + ".model";
  }();
  return path;
}

TEST(SentencePiece, RoundTripAndPadding) {
  SentencePieceTokenizer sp(trained_model());
  EXPECT_EQ(sp.vocab_size(), 60);
  EXPECT_EQ(sp.bos_id(), 1);  // sentencepiece's defaults: unk 0, bos 1, eos 2, no pad
  EXPECT_EQ(sp.eos_id(), 2);
  EXPECT_EQ(sp.pad_id(), 2);  // no pad in the model: pads with eos
  const std::string text = "the horse draws the old moon";
  std::vector<int> content = sp.encode_content(text);
  ASSERT_FALSE(content.empty());
  for (int id : content) EXPECT_TRUE(id > 2 && id < 60) << id;
  EXPECT_EQ(sp.decode(content), text);
  std::vector<int> padded = sp.encode_padded(text, 77);
  ASSERT_EQ(padded.size(), 77u);
  EXPECT_EQ(padded[0], 1);
  EXPECT_EQ(std::vector<int>(padded.begin() + 1, padded.begin() + 1 + long(content.size())), content);
  EXPECT_EQ(padded[content.size() + 1], 2);
  EXPECT_EQ(padded[76], 2);
  EXPECT_EQ(sp.decode(padded), text);
  // Truncation keeps the first content ids.
  std::vector<int> short_window = sp.encode_padded(text, 4);
  EXPECT_EQ(short_window, (std::vector<int>{1, content[0], content[1], 2}));
}

TEST(SentencePiece, FolderWithSpieceModelLoadsIt) {
  // A diffusers tokenizer/ folder of a sentencepiece model (the bundled demo model's layout).
  TempDir dir;
  fs::copy_file(trained_model(), dir.path / "spiece.model");
  std::unique_ptr<Tokenizer> from_folder = load_tokenizer(dir.path.string());
  SentencePieceTokenizer direct(trained_model());
  const std::string text = "quick zebras watch the blue sea";
  EXPECT_EQ(from_folder->encode_padded(text, 77), direct.encode_padded(text, 77));
  EXPECT_EQ(from_folder->context_length(), 77);  // no tokenizer_config.json

  // Its tokenizer_config.json's model_max_length sets the window, as it does for CLIP's.
  dir.file("tokenizer_config.json", R"({"pad_token": "<pad>", "model_max_length": 32})");
  EXPECT_EQ(load_tokenizer(dir.path.string())->context_length(), 32);
  dir.file("tokenizer_config.json", R"({"model_max_length": 1000000000000000019884624838656})");
  EXPECT_EQ(load_tokenizer(dir.path.string())->context_length(), 77);  // HF's "no limit"
  for (const char* bad : {R"({"model_max_length": 1})", R"({"model_max_length": "32"})", "[1]"}) {
    std::string config = dir.file("tokenizer_config.json", bad);
    std::string e = error_of([&] { load_tokenizer(dir.path.string()); });
    EXPECT_NE(e.find(config), std::string::npos) << bad << ": " << e;
  }
}

TEST(SentencePiece, T5StyleIdsAndWeightedWindows) {
  SentencePieceTokenizer t5(trained_model(), {.bos_id = -1, .eos_id = 2, .pad_id = 0, .context_length = 24});
  std::vector<int> content = t5.encode_content("a dog likes green hills");
  std::vector<int> expected = content;
  expected.push_back(2);
  ASSERT_LT(expected.size(), 24u);
  expected.resize(24, 0);
  EXPECT_EQ(t5.encode_padded("a dog likes green hills", 24), expected);
  std::vector<PromptWindow> w = encode_weighted_prompt(t5, "a dog likes green hills");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].ids, expected);
  EXPECT_EQ(w[0].ids[0], content[0]);  // no bos
  w = encode_weighted_prompt(t5, "(a dog:1.5)");
  EXPECT_FLOAT_EQ(w[0].weights[0], 1.5f);
}

TEST(SentencePiece, BadModelsAndOverridesAreErrors) {
  TempDir dir;
  std::string garbage = dir.file("bad.model", "this is not a protobuf \x01\x02\x03");
  std::string e = error_of([&] { SentencePieceTokenizer t(garbage); });
  EXPECT_NE(e.find(garbage), std::string::npos) << e;
  EXPECT_EQ(e.find(".cc("), std::string::npos) << e;  // no library source lines (issue 17, item 11)
  std::string empty = dir.file("empty.model", "");
  EXPECT_NE(error_of([&] { SentencePieceTokenizer t(empty); }).find(empty), std::string::npos);
  EXPECT_NE(error_of([] { SentencePieceTokenizer t("/nonexistent/x.model"); }).find("/nonexistent/x.model: cannot open"),
            std::string::npos);
  e = error_of([] { SentencePieceTokenizer t(trained_model(), {.pad_id = 60}); });
  EXPECT_NE(e.find("pad id 60"), std::string::npos) << e;
  SentencePieceTokenizer sp(trained_model());
  EXPECT_NE(error_of([&] { sp.decode({60}); }).find("token id 60"), std::string::npos);
  EXPECT_NE(error_of([&] { sp.encode("a\xff"); }).find("not valid UTF-8"), std::string::npos);
}

}  // namespace
}  // namespace sdvk
