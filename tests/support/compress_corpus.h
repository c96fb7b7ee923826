// The varied inputs the compression tests round-trip (issue 17): prose, code, JSON, CJK, emoji,
// bytes that are not UTF-8, the empty string, one byte, and large mixes of them, built here
// deterministically so that every run codes the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hayate::test {

inline std::string prose() {
  return "Once upon a time, a little fox named Pip lived in a quiet forest. One day, Pip wanted to see the sea. "
         "But the path was long, and Pip felt sad. Then a kind owl came by and said, \"Let me help you.\" "
         "Together they kept going, and at last Pip did it. Pip went home singing.\n\n"
         "The mayor of Brackenford, Mira Morrow, walked along the river every morning; the bakers waved.\n";
}

inline std::string code() {
  return "#include <cstdio>\n\nint main(int argc, char** argv) {\n  for (int i = 0; i < argc; ++i) {\n"
         "    std::printf(\"%d: %s\\n\", i, argv[i]);\n  }\n  return argc > 1 ? 0 : 1;  // done\n}\n";
}

inline std::string json_text() {
  return R"({"model": "hayate-demo", "messages": [{"role": "user", "content": "What is 23 + 45?"}],)"
         R"( "temperature": 0.0, "max_tokens": 16, "stop": ["\n", "<|im_end|>"], "n": 1, "stream": false})";
}

inline std::string cjk() {
  return "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE6\x96\x87\xE7\xAB\xA0\xE3\x81\xA7\xE3\x81\x99\xE3\x80\x82"
         " \xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95\xE3\x80\x82 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 "
         "\xE3\x83\x8F\xE3\x83\xA4\xE3\x83\x86\n";
}

inline std::string emoji() {
  // A face, a family joined by zero-width joiners, a flag, a skin tone, a keycap.
  return "hi \xF0\x9F\x98\x80 \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "
         "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD 1\xEF\xB8\x8F\xE2\x83\xA3!";
}

inline std::string invalid_utf8() {
  std::string s = "ok \xFF\xFE bad \x80 lone continuation, \xC0\xAF overlong, \xED\xA0\x80 surrogate, ";
  static constexpr char kControls[] = "\x00\x01\x02 nul and controls, truncated \xE3\x81";
  s += std::string(kControls, sizeof kControls - 1);                // (the NUL inside is part of it)
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));  // every byte value
  return s;
}

// Deterministic pseudo-random bytes (xorshift), for the parts no model predicts.
inline std::string noise(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  for (char& c : s) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    c = static_cast<char>(seed >> 56);
  }
  return s;
}

// At least `n` bytes cycling through every kind above (cut to exactly n: it may end mid-character).
inline std::string mixed(size_t n) {
  const std::string kinds[] = {prose(), code(), json_text(), cjk(), emoji(), invalid_utf8(), noise(97, n)};
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += kinds[i % std::size(kinds)];
  s.resize(n);
  return s;
}

inline std::vector<std::pair<std::string, std::string>> compress_corpus() {
  return {{"prose", prose()},      {"code", code()},   {"json", json_text()},
          {"cjk", cjk()},          {"emoji", emoji()}, {"invalid_utf8", invalid_utf8()},
          {"empty", ""},           {"one_byte", "x"},  {"one_high_byte", "\xC3"},
          {"noise", noise(700, 7)}};
}

}  // namespace hayate::test
