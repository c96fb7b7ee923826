#include "engine/stop_strings.h"

#include <algorithm>
#include <utility>

namespace hayate {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  stops_.erase(std::remove_if(stops_.begin(), stops_.end(), [](const std::string& s) { return s.empty(); }),
               stops_.end());
}

size_t StopMatcher::partial_match_length() const {
  const std::string_view text = pending_;
  size_t longest = 0;
  for (const auto& stop : stops_) {
    // A whole stop string would have been found already, so only proper prefixes count.
    for (size_t len = std::min(text.size(), stop.size() - 1); len > longest; --len) {
      if (text.substr(text.size() - len) == std::string_view(stop).substr(0, len)) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}

StopMatcher::Result StopMatcher::push(std::string_view piece) {
  if (stopped_) return {"", true};
  pending_.append(piece);

  // The earliest stop wins: text before it is all the client may see.
  size_t first = std::string::npos;
  for (const auto& stop : stops_) first = std::min(first, pending_.find(stop));
  if (first != std::string::npos) {
    stopped_ = true;
    Result result{pending_.substr(0, first), true};
    pending_.clear();
    return result;
  }

  const size_t held = partial_match_length();
  Result result{pending_.substr(0, pending_.size() - held), false};
  pending_.erase(0, pending_.size() - held);
  return result;
}

std::string StopMatcher::flush() { return std::exchange(pending_, std::string()); }

}  // namespace hayate
