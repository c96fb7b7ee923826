// Finds the caller's stop strings in streamed text. Text that might be the beginning of a stop
// string is held back until the next piece shows whether it is one, so a stop string is never
// sent to the client, not even in part.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hayate {

class StopMatcher {
 public:
  // Empty stop strings are ignored (they would stop before the first character).
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    std::string emit;      // text that is safe to send now
    bool stopped = false;  // a stop string was found; emit ends just before it
  };
  // Adds the next piece of generated text. After a stop, every push returns {"", true}.
  Result push(std::string_view piece);
  // The held-back text, at the end of generation without a stop ("" after a stop).
  std::string flush();

  bool stopped() const { return stopped_; }

 private:
  // Length of the longest suffix of pending_ that begins some stop string.
  size_t partial_match_length() const;

  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace hayate
