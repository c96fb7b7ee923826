// libFuzzer target for the chat template interpreter: any bytes must parse and render, or end in
// hayate::Error (a syntax error, a runtime error, a limit), never crash, hang or leak. Renders
// with a small fixed conversation and tight limits, so each input runs in milliseconds.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate::chat;
  static const auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hi <b>there</b> \u00e9\n"},
    {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello!", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": {"x": [1, 2.5, null, true]}}}]},
    {"role": "user", "content": "  bye  "}])");
  static const auto extra = nlohmann::ordered_json::parse(R"({
    "enable_thinking": false, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]})");
  try {
    ChatTemplate t(std::string(reinterpret_cast<const char*>(data), size), "<s>", "</s>");
    Limits limits;
    limits.max_steps = 100'000;
    limits.max_output_bytes = 1 << 20;
    limits.max_items = 1 << 16;
    t.set_limits(limits);
    const std::string out = t.render(messages, size % 2 == 0, extra);
    volatile size_t sink = out.size();
    (void)sink;
  } catch (const hayate::Error&) {
  }
  return 0;
}
