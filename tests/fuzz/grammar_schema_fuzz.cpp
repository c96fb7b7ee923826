// libFuzzer target for the JSON Schema compiler: any JSON must become GBNF that parses, or end in
// hayate::Error (bad or unsupported schema), never crash, loop or leak; the grammar is then
// compiled against a small vocabulary. Inputs that are not JSON are skipped.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/sources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate::grammar;
  static const auto vocab = [] {
    auto v = std::make_shared<Vocabulary>();
    v->tokens = {"", "{", "}", "[", "]", "\"", ":", ",", "a", "1", "-", "true", "null", " ", "\"a\"", "\\n"};
    v->end_ids = {0};
    return v;
  }();
  const auto schema = nlohmann::ordered_json::parse(data, data + size, nullptr, false);
  if (schema.is_discarded()) return 0;
  try {
    const std::string gbnf = json_schema_to_gbnf(schema, 1 << 16);
    Limits limits;
    limits.max_elements = 50000;
    CompileLimits compile;
    compile.max_steps = 2'000'000;
    auto g = std::make_shared<const CompiledGrammar>(parse_gbnf(gbnf, limits), vocab, compile);
    Matcher m(g);
    std::vector<uint64_t> bits;
    m.fill_allowed(bits);
  } catch (const hayate::Error&) {
  } catch (const nlohmann::json::exception&) {
    __builtin_trap();  // the converter must check types before reading values
  }
  return 0;
}
