// A toy embedding for the retrieval tests: words hashed into buckets, enough for planted facts to
// be found by their words, and documents of such chunks.
#pragma once

#include <cctype>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rag/store.h"

namespace hayate::rag {

constexpr int32_t kDim = 512;  // few enough hash collisions between the toy embedding's words

inline std::vector<float> embed(std::string_view text) {
  std::vector<float> v(kDim, 0.f);
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || !std::isalnum(static_cast<unsigned char>(text[i]))) {
      if (i > start) v[std::hash<std::string_view>{}(text.substr(start, i - start)) % kDim] += 1.f;
      start = i + 1;
    }
  }
  return v;
}

inline NewDocument doc(const std::string& id, const std::vector<std::string>& chunks) {
  NewDocument d;
  d.id = id;
  std::string all;
  for (const auto& c : chunks) all += c + "\n";
  d.content_hash = std::to_string(std::hash<std::string>{}(all));
  d.metadata_json = R"({"source":")" + id + R"("})";
  int64_t at = 0;
  for (const auto& c : chunks) {
    d.chunks.push_back({at, at + static_cast<int64_t>(c.size()), c, "", embed(c)});
    at += static_cast<int64_t>(c.size()) + 1;
  }
  return d;
}

}  // namespace hayate::rag
