// A strict reader of the server-sent events this server (and OpenAI) writes: only data lines,
// comments and blank lines, so a framing bug shows up as an error instead of a lost chunk.
#include "api/openai.h"

namespace hayate::api {

namespace {

[[noreturn]] void malformed(int64_t line_no, const std::string& why) {
  fail(ErrorKind::BadInput, "SSE stream, line " + std::to_string(line_no) + ": " + why);
}

std::string quoted_prefix(std::string_view text) {
  constexpr size_t kShow = 40;
  std::string shown(text.substr(0, kShow));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return "\"" + shown + (text.size() > kShow ? "...\"" : "\"");
}

}  // namespace

void SseParser::feed(std::string_view bytes) {
  size_t start = 0;
  while (start < bytes.size()) {
    const size_t nl = bytes.find('\n', start);
    if (nl == std::string_view::npos) {
      partial_.append(bytes.substr(start));
      return;
    }
    std::string_view piece = bytes.substr(start, nl - start);
    start = nl + 1;
    if (partial_.empty()) {
      line(piece);
    } else {
      partial_.append(piece);
      const std::string whole = std::move(partial_);
      partial_.clear();
      line(whole);
    }
  }
}

void SseParser::line(std::string_view text) {
  ++line_no_;
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.find('\r') != std::string_view::npos) malformed(line_no_, "a bare carriage return inside a line");
  if (text.empty()) {
    if (!data_.empty()) {
      std::string joined = data_[0];
      for (size_t i = 1; i < data_.size(); ++i) joined += "\n" + data_[i];
      data_.clear();
      if (joined == "[DONE]")
        done_ = true;
      else if (!joined.empty())  // as the SSE spec says, an event with empty data is not dispatched
        events_.push_back(std::move(joined));
    }
    in_event_ = false;
    return;
  }
  if (text.front() == ':') {  // a comment (keep-alive)
    in_event_ = true;
    return;
  }
  if (!text.starts_with("data:"))
    malformed(line_no_, "expected \"data: ...\", a \":\" comment or a blank line, got " + quoted_prefix(text));
  if (done_) malformed(line_no_, "data after [DONE]");
  text.remove_prefix(5);
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  data_.emplace_back(text);
  in_event_ = true;
}

std::vector<std::string> SseParser::take_events() {
  std::vector<std::string> out;
  out.swap(events_);
  return out;
}

void SseParser::finish() const {
  if (!partial_.empty())
    malformed(line_no_ + 1, "the stream ended inside a line " + quoted_prefix(partial_) + " (no final newline)");
  if (in_event_) malformed(line_no_, "the stream ended without the blank line that closes the last event");
}

}  // namespace hayate::api
