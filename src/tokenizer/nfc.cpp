#include "tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/utf8.h"

namespace hayate {
namespace {

struct CombiningRange {
  uint32_t first;
  uint32_t last;
  uint8_t ccc;
};

struct Decomposition {
  uint32_t cp;
  uint16_t offset;  // into kDecompositionPool
  uint8_t length;
};

struct Composition {
  uint32_t first;
  uint32_t second;
  uint32_t composite;
};

#include "tokenizer/nfc_tables.inc"

// Hangul syllables decompose and compose by arithmetic (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  const auto it = std::upper_bound(std::begin(kCombiningRanges), std::end(kCombiningRanges), cp,
                                   [](uint32_t c, const CombiningRange& r) { return c < r.first; });
  if (it == std::begin(kCombiningRanges)) return 0;
  const CombiningRange& range = *(it - 1);
  return cp <= range.last ? range.ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t index = cp - kSBase;
    out.push_back(kLBase + index / kNCount);
    out.push_back(kVBase + (index % kNCount) / kTCount);
    if (index % kTCount != 0) out.push_back(kTBase + index % kTCount);
    return;
  }
  if (cp >= 0xC0) {
    const auto it = std::lower_bound(std::begin(kDecompositions), std::end(kDecompositions), cp,
                                     [](const Decomposition& d, uint32_t c) { return d.cp < c; });
    if (it != std::end(kDecompositions) && it->cp == cp) {
      out.insert(out.end(), kDecompositionPool + it->offset, kDecompositionPool + it->offset + it->length);
      return;
    }
  }
  out.push_back(cp);
}

// The primary composite of a pair, or 0.
uint32_t compose(uint32_t first, uint32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount)
    return first + (second - kTBase);
  const auto it = std::lower_bound(std::begin(kCompositions), std::end(kCompositions), std::pair(first, second),
                                   [](const Composition& c, const std::pair<uint32_t, uint32_t>& key) {
                                     return c.first != key.first ? c.first < key.first : c.second < key.second;
                                   });
  if (it != std::end(kCompositions) && it->first == first && it->second == second) return it->composite;
  return 0;
}

// Normalizes one run of valid UTF-8 and appends it to `out`.
void normalize_run(std::string_view run, std::string& out) {
  std::vector<uint32_t> cps;
  for (size_t pos = 0; pos < run.size();) {
    const size_t length = utf8::next(run, pos).length;
    decompose(utf8::decode(run, pos, length), cps);
    pos += length;
  }

  // Canonical order: each run of non-starters sorted (stably) by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < cps.size() && combining_class(cps[end]) != 0) ++end;
    std::stable_sort(cps.begin() + static_cast<ptrdiff_t>(i), cps.begin() + static_cast<ptrdiff_t>(end),
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = end;
  }

  // Canonical composition: a character joins the last starter unless something between them
  // blocks it (a starter, or a mark of the same or a higher class).
  std::vector<uint32_t> composed;
  composed.reserve(cps.size());
  ptrdiff_t starter = -1;
  for (uint32_t cp : cps) {
    const uint8_t ccc = combining_class(cp);
    if (starter >= 0) {
      const bool adjacent = static_cast<size_t>(starter) + 1 == composed.size();
      const bool unblocked = adjacent || (ccc != 0 && combining_class(composed.back()) < ccc);
      if (unblocked) {
        if (const uint32_t composite = compose(composed[starter], cp)) {
          composed[starter] = composite;
          continue;
        }
      }
    }
    composed.push_back(cp);
    if (ccc == 0) starter = static_cast<ptrdiff_t>(composed.size()) - 1;
  }
  for (uint32_t cp : composed) utf8::append_codepoint(out, cp);
}

}  // namespace

std::string to_nfc(std::string_view text) {
  // Below U+0300 nothing decomposes or combines except the precomposed Latin-1 letters, which
  // are already NFC: a text of such characters is its own normal form.
  const bool simple = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<uint8_t>(c) < 0xCC; });
  if (simple && utf8::valid_prefix(text) == text.size()) return std::string(text);

  std::string out;
  out.reserve(text.size());
  size_t run_begin = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Step step = utf8::next(text, pos);
    if (step.status == utf8::Status::Valid) {
      pos += step.length;
      continue;
    }
    normalize_run(text.substr(run_begin, pos - run_begin), out);
    out.append(text, pos, step.length);
    pos += step.length;
    run_begin = pos;
  }
  normalize_run(text.substr(run_begin), out);
  return out;
}

}  // namespace hayate
