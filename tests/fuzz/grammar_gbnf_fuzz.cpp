// libFuzzer target for the GBNF compiler and the matcher: any bytes must parse into a grammar
// that a matcher walks (a few steps over a small vocabulary), or end in hayate::Error, never
// crash, loop or leak. Regexes go through the same path when the input starts with "re:".
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/sources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate::grammar;
  static const auto vocab = [] {
    auto v = std::make_shared<Vocabulary>();
    v->tokens = {"", "a", "b", "(", ")", "1", "+", "\"", "{\"", "\":", ",", "}", "ab", "\xc3\xa9", "\xc3", " "};
    v->end_ids = {0};
    return v;
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    if (text.rfind("re:", 0) == 0) text = "root ::= " + regex_to_gbnf(text.substr(3));
    Limits limits;
    limits.max_elements = 20000;
    CompileLimits compile;
    compile.max_steps = 2'000'000;
    auto g = std::make_shared<const CompiledGrammar>(parse_gbnf(text, limits), vocab, compile);
    Matcher m(g);
    std::vector<uint64_t> bits;
    for (int step = 0; step < 16 && !m.done(); ++step) {
      m.fill_allowed(bits);
      int32_t pick = -1;
      for (size_t id = 1; id < vocab->tokens.size() && pick < 0; ++id)
        if ((bits[id / 64] >> (id % 64)) & 1 && (id + step + size) % 3 == 0) pick = static_cast<int32_t>(id);
      if (pick < 0) break;
      if (!m.accept(pick)) __builtin_trap();  // the mask allowed it
    }
  } catch (const hayate::Error&) {
  }
  return 0;
}
