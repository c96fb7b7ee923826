#include "chat/template.h"

#include "chat/ast.h"
#include "chat/builtins.h"
#include "chat/eval.h"
#include "chat/lexer.h"
#include "chat/parser.h"
#include "core/error.h"

namespace hayate::chat {

struct ChatTemplate::Parsed {
  std::string raw;
  Source source;
  Body body;
  std::string bos_token, eos_token;
};

namespace {

std::string render_values(const Source& source, const Body& body, const Limits& limits,
                          std::vector<std::pair<std::string, Value>> variables) {
  auto globals = std::make_shared<Scope>();
  globals->vars = global_functions();
  auto context = std::make_shared<Scope>();
  context->parent = globals;
  context->vars = std::move(variables);  // names are unique: variables() replaced duplicates
  Interpreter interpreter(source, limits);
  return interpreter.render(body, context);
}

template <typename Json>
std::vector<std::pair<std::string, Value>> variables(const Json& messages, bool add_generation_prompt,
                                                     const Json& extra, const std::string& bos,
                                                     const std::string& eos) {
  if (!messages.is_array()) fail(ErrorKind::BadInput, "chat template: messages must be a JSON array");
  if (!extra.is_null() && !extra.is_object()) {
    fail(ErrorKind::BadInput, "chat template: the extra context must be a JSON object");
  }
  std::vector<std::pair<std::string, Value>> vars = {
      {"messages", from_json(messages)}, {"add_generation_prompt", Value(add_generation_prompt)},
      {"bos_token", Value(bos)},         {"eos_token", Value(eos)},
      {"tools", Value::none()},          {"documents", Value::none()},
  };
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) {
      if (key == "messages" || key == "add_generation_prompt") {
        fail(ErrorKind::BadInput, "chat template: the extra context cannot set '" + key + "'");
      }
      Value v = from_json(value);
      bool replaced = false;
      for (auto& [name, existing] : vars) {
        if (name == key) {
          existing = v;
          replaced = true;
        }
      }
      if (!replaced) vars.emplace_back(key, std::move(v));
    }
  }
  return vars;
}

}  // namespace

nlohmann::ordered_json messages_to_json(const std::vector<Message>& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Message& m : messages) {
    nlohmann::ordered_json j = {{"role", m.role}, {"content", m.content}};
    if (m.extra.is_object()) {
      for (const auto& [key, value] : m.extra.items()) j[key] = nlohmann::ordered_json::parse(value.dump());
    }
    out.push_back(std::move(j));
  }
  return out;
}

ChatTemplate::ChatTemplate(std::string source, std::string bos_token, std::string eos_token) {
  auto parsed = std::make_shared<Parsed>();
  parsed->raw = std::move(source);
  parsed->source = normalize_source(parsed->raw);
  parsed->body = parse(parsed->source, lex(parsed->source));
  parsed->bos_token = std::move(bos_token);
  parsed->eos_token = std::move(eos_token);
  parsed_ = std::move(parsed);
}

const std::string& ChatTemplate::source() const { return parsed_->raw; }

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra_context) const {
  return render_values(
      parsed_->source, parsed_->body, limits_,
      variables(messages, add_generation_prompt, extra_context, parsed_->bos_token, parsed_->eos_token));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra_context) const {
  return render_values(
      parsed_->source, parsed_->body, limits_,
      variables(messages, add_generation_prompt, extra_context, parsed_->bos_token, parsed_->eos_token));
}

std::string ChatTemplate::render(const std::vector<Message>& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra_context) const {
  return render(messages_to_json(messages), add_generation_prompt, extra_context);
}

}  // namespace hayate::chat
