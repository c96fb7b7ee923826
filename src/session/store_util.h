// What every conversation store shares: ids, the clock, and the search's match rule.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "session/conversations.h"

namespace hayate::session {

inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// 20 base-36 characters (103 bits): servers sharing a store make ids without asking each other.
inline std::string new_conversation_id() {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id = "conv-";
  for (int i = 0; i < 20; ++i) id += kDigits[rng() % 36];
  return id;
}

// A new conversation as every store makes it (created and updated now, no message yet).
inline ConversationInfo new_conversation(const std::string& title, const std::string& system_prompt,
                                         const std::string& settings) {
  const int64_t now = unix_now();
  return {new_conversation_id(), title, system_prompt, settings.empty() ? "{}" : settings, now, now, 0};
}

// LIKE's wildcards in a search are the user's characters, not patterns ('\\' escapes).
inline std::string like_pattern(const std::string& text) {
  std::string p = "%";
  for (const char c : text) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p + "%";
}

// The search rule of every store: the text literally, ASCII letters in any case (SQLite's LIKE).
inline bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    size_t j = 0;
    while (j < needle.size() && lower(haystack[i + j]) == lower(needle[j])) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

}  // namespace hayate::session
