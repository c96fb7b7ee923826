#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"

namespace hayate {
namespace {

// The expressions follow the model families' tokenizer.json files, grouped by the names
// llama.cpp gives them (its test vectors are what the conformance tests check). PCRE2 runs the
// originals' lookaheads, possessive quantifiers and \p{Lu}-style classes as written; where an
// original uses a case-insensitive group, the ASCII spelling ('[sS]...) is used so that e.g.
// U+017F never joins an English contraction, as in llama.cpp.
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

#define HAYATE_CONTRACTIONS R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))"

constexpr const char* kLlama3 =
    HAYATE_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kQwen2 =
    HAYATE_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kSeedCoder =
    HAYATE_CONTRACTIONS R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)";

// o200k (GPT-4o, Llama 4, MiniMax-M2): upper-then-lower letter runs keep their contraction.
#define HAYATE_UPPER R"([\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])"
#define HAYATE_LOWER R"([\p{Ll}\p{Lm}\p{Lo}\p{M}])"
constexpr const char* kO200k = R"([^\r\n\p{L}\p{N}]?)" HAYATE_UPPER "*" HAYATE_LOWER "+" HAYATE_CONTRACTIONS
                               "?"
                               R"(|[^\r\n\p{L}\p{N}]?)" HAYATE_UPPER "+" HAYATE_LOWER "*" HAYATE_CONTRACTIONS
                               "?"
                               R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kTekken = R"([^\r\n\p{L}\p{N}]?)" HAYATE_UPPER "*" HAYATE_LOWER
                                "+"
                                R"(|[^\r\n\p{L}\p{N}]?)" HAYATE_UPPER "+" HAYATE_LOWER
                                "*"
                                R"(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr const char* kBailing = R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N})"
                                 R"(| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";

// DeepSeek LLM splits out cased letters (Unicode L&) by explicit ranges.
constexpr const char* kDeepseekCasedLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})"
    R"(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3})"
    R"(\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})"
    R"(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})"
    R"(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})"
    R"(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})"
    R"(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})"
    R"(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})"
    R"(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})"
    R"(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
constexpr const char* kDeepseekPunct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
constexpr const char* kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
constexpr const char* kDeepseekV3Cjk = R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";
constexpr const char* kDeepseekV3Main =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+)"
    R"(| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// BLOOM-style: runs that stop at whitespace and a few punctuation marks of several scripts.
constexpr const char* kBloom = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)";

#undef HAYATE_CONTRACTIONS
#undef HAYATE_UPPER
#undef HAYATE_LOWER

struct Family {
  std::vector<std::string_view> names;
  std::vector<const char*> regexes;
  bool ignore_merges = false;
  bool add_bos = false;
  bool nfc = false;  // tokenizer.json normalizes with NFC first
};

const std::vector<Family>& families() {
  static const std::vector<Family> table = {
      {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code",
        "roberta-bpe", "a.x-4.0", "mellum", "mpt", "olmo", "jais", "exaone4", "trillion", "granite-docling"},
       {kGpt2}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3},
       true,
       true},
      {{"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {kLlama3}},
      {{"qwen2", "deepseek-r1-qwen"}, {kQwen2}, false, false, true},
      {{"kormo", "megrez", "stablelm2", "hunyuan", "grok-2"}, {kQwen2}},
      {{"deepseek-llm"}, {R"([\r\n])", kDeepseekCasedLetters, kDeepseekPunct, R"(\s+$)", kDeepseekCjk, R"(\p{N}+)"}},
      {{"deepseek-coder"}, {R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}},
      {{"deepseek-v3", "hunyuan-dense"}, {R"(\p{N}{1,3})", kDeepseekV3Cjk, kDeepseekV3Main}},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {R"(\p{N})", kGpt2}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kBloom}},
      {{"viking"}, {kBloom, R"(\p{N})"}},
      {{"tekken"}, {kTekken}, true, true},
      {{"chameleon"},
       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", R"(([\t\n]|    |  ))", R"(\p{N})",
        R"([\p{P}!-/:-@\[-`{-~])", kGpt2},
       false,
       true},
      {{"gpt-4o", "llama4", "minimax-m2"}, {kO200k}},
      {{"seed-coder"}, {kSeedCoder}},
      {{"bailingmoe", "bailingmoe2", "llada-moe"}, {kBailing}},
  };
  return table;
}

}  // namespace

class PreTokenizer::Regex {
 public:
  Regex(const char* pattern, std::string_view family) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &offset, nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(code, message, sizeof(message));
      fail(ErrorKind::Internal, "pre-tokenizer '" + std::string(family) + "': regex does not compile at offset " +
                                    std::to_string(offset) + ": " + reinterpret_cast<const char*>(message));
    }
    // Without JIT support matching falls back to the interpreter, which gives the same pieces.
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the pieces of text[piece] to `out`.
  void split(std::string_view text, Span piece, pcre2_match_data* match, std::vector<Span>& out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.begin);
    const size_t length = piece.end - piece.begin;
    size_t pos = 0;
    size_t last = 0;  // end of the last piece emitted, relative to piece.begin
    const auto emit = [&](size_t from, size_t to) { out.push_back({piece.begin + from, piece.begin + to}); };

    while (pos < length) {
      int rc = pcre2_match(code_, subject, length, pos, PCRE2_NO_UTF_CHECK, match, nullptr);
      if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        // JIT stack exhausted on a pathological input: the interpreter copes.
        rc = pcre2_match(code_, subject, length, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, match, nullptr);
      }
      // No match, or a resource limit even without JIT: the rest stays one piece.
      if (rc < 0) break;
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
      const size_t start = ovector[0];
      const size_t end = ovector[1];
      if (start > last) emit(last, start);
      last = std::max(last, start);
      if (end == start) {
        // A zero-width match only marks a cut; step over one character to make progress.
        if (start >= length) break;
        pos = start + utf8::next(std::string_view(text.data() + piece.begin, length), start).length;
        continue;
      }
      emit(start, end);
      last = end;
      pos = end;
    }
    if (last < length) emit(last, length);
  }

 private:
  pcre2_code* code_ = nullptr;
};

PreTokenizer::PreTokenizer(std::string_view name) {
  for (const Family& family : families()) {
    if (std::find(family.names.begin(), family.names.end(), name) == family.names.end()) continue;
    for (const char* pattern : family.regexes) regexes_.push_back(std::make_unique<Regex>(pattern, name));
    ignore_merges_ = family.ignore_merges;
    add_bos_default_ = family.add_bos;
    nfc_ = family.nfc;
    return;
  }
  std::string known;
  for (const std::string& n : known_names()) known += (known.empty() ? "" : ", ") + n;
  fail(ErrorKind::Unsupported,
       "tokenizer.ggml.pre '" + std::string(name) + "' is not a pre-tokenizer this build knows; known: " + known);
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string> PreTokenizer::known_names() {
  std::vector<std::string> names;
  for (const Family& family : families())
    for (std::string_view n : family.names) names.emplace_back(n);
  return names;
}

std::vector<Span> PreTokenizer::split(std::string_view text) const {
  std::vector<Span> result;
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(pcre2_match_data_create(1, nullptr),
                                                                                  &pcre2_match_data_free);
  if (!match) fail(ErrorKind::ResourceExhausted, "pre-tokenizer: out of memory for PCRE2 match data");

  std::vector<Span> current;
  std::vector<Span> next;
  const auto split_valid_run = [&](Span run) {
    current.assign(1, run);
    for (const auto& regex : regexes_) {
      next.clear();
      for (const Span& piece : current) regex->split(text, piece, match.get(), next);
      current.swap(next);
    }
    result.insert(result.end(), current.begin(), current.end());
  };

  size_t run_begin = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Step step = utf8::next(text, pos);
    if (step.status == utf8::Status::Valid) {
      pos += step.length;
      continue;
    }
    if (pos > run_begin) split_valid_run({run_begin, pos});
    result.push_back({pos, pos + step.length});
    pos += step.length;
    run_begin = pos;
  }
  if (pos > run_begin) split_valid_run({run_begin, pos});
  return result;
}

}  // namespace hayate
