// Chat templates: the Jinja programs in tokenizer_config.json that turn a conversation into the
// prompt text a model was trained on. hayate interprets the subset of Jinja that real chat
// templates use and renders as Hugging Face transformers' apply_chat_template(tokenize=False)
// does (jinja2 with trim_blocks, lstrip_blocks, loop controls, raise_exception, strftime_now and
// a tojson that keeps non-ASCII text).
//
//   ChatTemplate t(config["chat_template"], "<s>", "</s>");
//   std::string prompt = t.render(messages, /*add_generation_prompt=*/true);
//
// What is not supported fails with an Error naming it: {% call %}, {% include %} and template
// inheritance, recursive loops and *args in calls (syntax errors); printf-style '%' on strings and
// str.format (when run). Unlike transformers' sandbox, list.append is allowed (llama.cpp-era
// templates build lists with it); filters Python runs lazily (select, map ...) run at once here.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/limits.h"

namespace hayate::chat {

struct Message {
  std::string role;
  std::string content;
  nlohmann::json extra;  // further keys of the message (name, tool_calls, reasoning_content ...); null for none
};

// [{"role": ..., "content": ..., extra keys ...}, ...]
nlohmann::ordered_json messages_to_json(const std::vector<Message>& messages);

class ChatTemplate {
 public:
  // Parses once; Error(BadInput) naming line, column and what is wrong for a syntax error.
  explicit ChatTemplate(std::string source, std::string bos_token = "", std::string eos_token = "");

  // Renders with the variables transformers provides: messages, add_generation_prompt,
  // bos_token, eos_token, tools and documents (none unless given), and each key of
  // extra_context (an object, or null), such as tools, documents or enable_thinking.
  // raise_exception("...") in the template is an Error(BadInput) with the template's message;
  // so is a runtime error (an undefined value used, a type error) and passing any of Limits.
  // Thread-safe: renders share nothing but the parsed template.
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra_context = {}) const;
  // The same, keeping the key order of JSON objects (which tojson prints in that order, as
  // Python does); std::map-backed nlohmann::json sorts keys.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_context = {}) const;
  std::string render(const std::vector<Message>& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_context = {}) const;

  void set_limits(const Limits& limits) { limits_ = limits; }
  const std::string& source() const;

 private:
  struct Parsed;
  std::shared_ptr<const Parsed> parsed_;
  Limits limits_;
};

}  // namespace hayate::chat
