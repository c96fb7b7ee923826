#include "tokenizer/bert_text.h"

#include <algorithm>
#include <cstdint>

#include "core/utf8.h"

namespace hayate {
namespace {

struct CodeRange {
  uint32_t first;
  uint32_t last;
};

struct Fold {
  uint32_t cp;
  const char* text;  // lower-cased, accents stripped, UTF-8
};

#include "tokenizer/bert_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], uint32_t cp) {
  const auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                                   [](uint32_t c, const CodeRange& r) { return c < r.first; });
  return it != std::begin(table) && cp <= (it - 1)->last;
}

bool is_whitespace(uint32_t cp) {  // Unicode White_Space, as Rust's char::is_whitespace
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_cjk(uint32_t cp) {  // the ranges of BERT's _is_chinese_char
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Hangul syllables decompose by arithmetic into jamo, none of them a mark.
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kTCount = 28, kNCount = 21 * kTCount, kSCount = 19 * kNCount;

// Appends what `cp` becomes after NFD, mark removal (when stripping) and lower-casing.
void fold(uint32_t cp, const BertTextOptions& o, std::string& out) {
  if (o.strip_accents && cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t index = cp - kSBase;
    utf8::append_codepoint(out, kLBase + index / kNCount);
    utf8::append_codepoint(out, kVBase + (index % kNCount) / kTCount);
    if (index % kTCount != 0) utf8::append_codepoint(out, kTBase + index % kTCount);
    return;
  }
  if (o.strip_accents && o.lowercase) {
    const auto it =
        std::lower_bound(std::begin(kFolds), std::end(kFolds), cp, [](const Fold& f, uint32_t c) { return f.cp < c; });
    if (it != std::end(kFolds) && it->cp == cp) {
      out += it->text;
      return;
    }
  }
  utf8::append_codepoint(out, cp);
}

}  // namespace

std::vector<std::string> bert_words(std::string_view text, const BertTextOptions& options) {
  std::vector<std::string> words;
  std::string word, folded;
  const auto end_word = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Step step = utf8::next(text, pos);
    if (step.status != utf8::Status::Valid) {
      pos += step.length;
      continue;
    }
    const uint32_t cp = utf8::decode(text, pos, step.length);
    pos += step.length;
    // clean_text drops controls before it turns whitespace into spaces: "a\vb" is one word.
    if (in_ranges(kDroppedRanges, cp)) continue;
    if (is_whitespace(cp)) {
      end_word();
      continue;
    }
    if (options.strip_accents && in_ranges(kMarkRanges, cp)) continue;
    folded.clear();
    fold(cp, options, folded);
    const bool cjk = is_cjk(cp);
    if (cjk) end_word();
    // Each character of the folded text: punctuation stands alone, the rest joins the word.
    for (size_t p = 0; p < folded.size();) {
      const size_t n = utf8::valid_length(folded, p);
      const uint32_t c = utf8::decode(folded, p, n);
      if (!cjk && in_ranges(kPunctuationRanges, c)) {
        end_word();
        words.emplace_back(folded, p, n);
      } else {
        word.append(folded, p, n);
      }
      p += n;
    }
    if (cjk) end_word();
  }
  end_word();
  return words;
}

}  // namespace hayate
