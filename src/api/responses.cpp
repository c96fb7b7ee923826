#include "api/responses.h"

#include "api/json_util.h"
#include "api/parse_util.h"

namespace hayate::api {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using detail::bad;
using detail::describe;
using detail::field;

ChatMessage message(const std::string& role, const std::string& content) {
  ChatMessage m;
  m.role = role;
  m.content = content;
  m.raw = {{"role", role}, {"content", content}};
  return m;
}

// A message of a content value: a string, or parts {type: input_text | output_text | text, text}
// and {type: input_image, image_url: URL}, whose placeholder stays where it was, as chat's
// image_url part does.
ChatMessage content_message(const std::string& role, const json& c, const std::string& at, const Limits& limits) {
  if (c.is_string()) return message(role, c.get<std::string>());
  if (!c.is_array()) bad(at, "'" + at + "' must be a string or an array of content parts, got " + describe(c));
  std::string text;
  std::vector<ImagePart> images;
  for (size_t i = 0; i < c.size(); ++i) {
    const json& part = c[i];
    const std::string pat = at + "[" + std::to_string(i) + "]";
    const json* type = part.is_object() ? field(part, "type") : nullptr;
    const std::string t = type && type->is_string() ? type->get<std::string>() : "";
    if (t == "input_image") {
      if (field(part, "file_id") && !field(part, "image_url"))
        bad(pat + ".file_id", "'" + pat + ".file_id': this server has no files API; send the image as image_url");
      images.push_back(detail::parse_image_part(part, pat, limits));
      text += kImagePlaceholder;
      continue;
    }
    if (t != "input_text" && t != "output_text" && t != "text")
      bad(pat, "'" + pat + ".type' must be \"input_text\", \"input_image\" or \"output_text\"");
    const json* tx = field(part, "text");
    if (!tx || !tx->is_string()) bad(pat, "'" + pat + ".text' must be a string");
    text += tx->get<std::string>();
  }
  ChatMessage m = message(role, text);
  m.image_parts = std::move(images);
  return m;
}

ChatMessage input_item(const json& item, size_t i, const Limits& limits) {
  const std::string at = "input[" + std::to_string(i) + "]";
  if (!item.is_object()) bad(at, "'" + at + "' must be an object");
  const std::string type =
      item.contains("type") && item["type"].is_string() ? item["type"].get<std::string>() : "message";
  if (type == "message") {
    const json* role = field(item, "role");
    if (!role || !role->is_string()) bad(at + ".role", "'" + at + ".role' must be a string");
    const std::string r = role->get<std::string>();
    if (r != "user" && r != "assistant" && r != "system" && r != "developer")
      bad(at + ".role", "'" + at + ".role' must be \"user\", \"assistant\", \"system\" or \"developer\"");
    const json* content = field(item, "content");
    if (!content) bad(at + ".content", "'" + at + ".content' is required");
    return content_message(r, *content, at + ".content", limits);
  }
  if (type == "function_call") {
    for (const char* key : {"call_id", "name", "arguments"})
      if (!item.contains(key) || !item[key].is_string())
        bad(at + "." + key, "'" + at + "." + key + "' must be a string");
    ChatMessage m;
    m.role = "assistant";
    m.raw = {{"role", "assistant"},
             {"content", nullptr},
             {"tool_calls", json::array({{{"id", item["call_id"]},
                                          {"type", "function"},
                                          {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}}})}};
    return m;
  }
  if (type == "function_call_output") {
    if (!item.contains("call_id") || !item["call_id"].is_string())
      bad(at + ".call_id", "'" + at + ".call_id' must be a string");
    const json* out = field(item, "output");
    if (!out) bad(at + ".output", "'" + at + ".output' is required");
    ChatMessage m = message("tool", out->is_string() ? out->get<std::string>() : out->dump());
    m.raw["tool_call_id"] = item["call_id"];
    return m;
  }
  bad(at + ".type", "'" + at + ".type' must be \"message\", \"function_call\" or \"function_call_output\", got " +
                        describe(item["type"]));
}

ojson responses_usage_json(const Usage& u) {
  return {{"input_tokens", u.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"output_tokens", u.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", 0}}},
          {"total_tokens", int64_t{u.prompt_tokens} + u.completion_tokens}};
}

}  // namespace

ResponsesRequest parse_responses_request(std::string_view body, const Limits& limits) {
  ChatCompletionRequest chat;  // the fields both APIs share are read the chat way
  const json j = detail::parse_object(body);
  ResponsesRequest r;
  if (const json* m = field(j, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string, got " + describe(*m));
    r.model = m->get<std::string>();
  }
  if (const json* ins = field(j, "instructions")) {
    if (!ins->is_string()) bad("instructions", "'instructions' must be a string, got " + describe(*ins));
    r.instructions = ins->get<std::string>();
  }
  const json* input = field(j, "input");
  if (!input) bad("input", "'input' is required: a string or an array of items");
  if (input->is_string()) {
    r.input.push_back(message("user", input->get<std::string>()));
  } else if (input->is_array() && !input->empty()) {
    for (size_t i = 0; i < input->size(); ++i) r.input.push_back(input_item((*input)[i], i, limits));
    detail::check_image_count(r.input, limits, "input");
  } else {
    bad("input", "'input' must be a string or a non-empty array of items, got " + describe(*input));
  }
  if (const json* s = field(j, "stream")) {
    if (!s->is_boolean()) bad("stream", "'stream' must be true or false");
    r.stream = s->get<bool>();
  }
  if (const json* s = field(j, "store")) {
    if (!s->is_boolean()) bad("store", "'store' must be true or false");
    r.store = s->get<bool>();
  }
  if (const json* p = field(j, "previous_response_id")) {
    if (!p->is_string()) bad("previous_response_id", "'previous_response_id' must be a string");
    r.previous_response_id = p->get<std::string>();
  }
  if (const json* m = field(j, "max_output_tokens")) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1 || m->get<int64_t>() > limits.max_tokens)
      bad("max_output_tokens", "'max_output_tokens' must be an integer in [1, " + std::to_string(limits.max_tokens) +
                                   "], got " + describe(*m));
    r.max_output_tokens = m->get<int32_t>();
  }
  detail::parse_sampling_fields(j, r.sampling);

  // Tools are flat here ({type, name, parameters}); the chat parser reads the nested form.
  json chat_like = json::object();
  if (const json* tools = field(j, "tools")) {
    if (!tools->is_array()) bad("tools", "'tools' must be an array of {\"type\": \"function\", \"name\", ...}");
    json nested = json::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      json t = (*tools)[i];
      if (!t.is_object()) bad("tools", "'tools[" + std::to_string(i) + "]' must be an object");
      json fn = t;
      fn.erase("type");
      fn.erase("strict");
      nested.push_back({{"type", t.value("type", json())}, {"function", fn}});
    }
    chat_like["tools"] = nested;
  }
  if (const json* tc = field(j, "tool_choice")) {
    chat_like["tool_choice"] = tc->is_object() && tc->contains("name")
                                   ? json{{"type", "function"}, {"function", {{"name", (*tc)["name"]}}}}
                                   : *tc;
  }
  if (const json* p = field(j, "parallel_tool_calls")) chat_like["parallel_tool_calls"] = *p;
  // The same again with key order, for the schemas.
  ojson ordered_like = ojson::object();
  if (chat_like.contains("tools")) {
    const ojson ordered = ojson::parse(body.begin(), body.end());
    ojson nested = ojson::array();
    for (const ojson& t : ordered["tools"]) {
      ojson fn = t;
      fn.erase("type");
      fn.erase("strict");
      nested.push_back({{"type", t.value("type", ojson())}, {"function", fn}});
    }
    ordered_like["tools"] = nested;
  }
  parse_tools(chat_like, ordered_like.dump(), chat);
  r.tools = std::move(chat.tools);
  r.tools_json = chat.tools_json;
  r.tool_choice = chat.tool_choice;
  r.parallel_tool_calls = chat.parallel_tool_calls;

  if (const json* text = field(j, "text")) {
    const json* format = text->is_object() ? field(*text, "format") : nullptr;
    if (format) {
      if (!format->is_object()) bad("text.format", "'text.format' must be an object");
      const std::string type = format->value("type", "");
      if (type == "json_object") {
        r.constraint.kind = OutputConstraint::JsonObject;
      } else if (type == "json_schema") {
        const json* schema = field(*format, "schema");
        if (!schema || !(schema->is_object() || schema->is_boolean()))
          bad("text.format.schema", "'text.format.schema' must be a JSON Schema object");
        if (schema->dump().size() > (1u << 20))
          bad("text.format.schema", "'text.format.schema' is over the limit of 1048576 bytes");
        r.constraint.kind = OutputConstraint::JsonSchema;
        r.constraint.schema = ojson::parse(body.begin(), body.end())["text"]["format"]["schema"];
      } else if (type != "text") {
        bad("text.format.type", "'text.format.type' must be \"text\", \"json_object\" or \"json_schema\"");
      }
    }
  }
  return r;
}

ojson response_object(const std::string& id, int64_t created, const std::string& model, const ResponsesRequest& r,
                      const std::string& status, const ResponseOutput* out, const Usage& usage) {
  ojson output = ojson::array();
  if (out) {
    if (!out->reasoning.empty())
      output.push_back({{"type", "reasoning"},
                        {"id", "rs_" + id.substr(5)},
                        {"summary", ojson::array()},
                        {"content", ojson::array({{{"type", "reasoning_text"}, {"text", out->reasoning}}})}});
    if (!out->text.empty() || out->calls.empty())
      output.push_back(
          {{"type", "message"},
           {"id", "msg_" + id.substr(5)},
           {"status", status},
           {"role", "assistant"},
           {"content",
            ojson::array({{{"type", "output_text"}, {"text", out->text}, {"annotations", ojson::array()}}})}});
    for (const ToolCall& c : out->calls)
      output.push_back({{"type", "function_call"},
                        {"id", "fc_" + c.id.substr(5)},
                        {"call_id", c.id},
                        {"name", c.name},
                        {"arguments", c.arguments},
                        {"status", "completed"}});
  }
  ojson body = {
      {"id", id},
      {"object", "response"},
      {"created_at", created},
      {"status", status},
      {"error", nullptr},
      {"incomplete_details", status == "incomplete" ? ojson{{"reason", "max_output_tokens"}} : ojson(nullptr)},
      {"instructions", r.instructions.empty() ? ojson(nullptr) : ojson(r.instructions)},
      {"max_output_tokens", r.max_output_tokens ? ojson(*r.max_output_tokens) : ojson(nullptr)},
      {"model", model},
      {"output", std::move(output)},
      {"parallel_tool_calls", r.parallel_tool_calls},
      {"previous_response_id", r.previous_response_id.empty() ? ojson(nullptr) : ojson(r.previous_response_id)},
      {"store", r.store},
      {"temperature", detail::stable_float(r.sampling.temperature)},
      {"top_p", detail::stable_float(r.sampling.top_p)},
      {"usage", out ? responses_usage_json(usage) : ojson(nullptr)}};
  return body;
}

std::vector<ChatMessage> output_as_messages(const ResponseOutput& out) {
  std::vector<ChatMessage> list;
  if (!out.text.empty() || out.calls.empty()) list.push_back(message("assistant", out.text));
  for (const ToolCall& c : out.calls) {
    ChatMessage m;
    m.role = "assistant";
    m.raw = {
        {"role", "assistant"},
        {"content", nullptr},
        {"tool_calls",
         json::array(
             {{{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}}})}};
    list.push_back(std::move(m));
  }
  return list;
}

std::string sse_response_event(const std::string& type, int64_t sequence, ojson fields) {
  ojson body = {{"type", type}, {"sequence_number", sequence}};
  for (auto& [key, value] : fields.items()) body[key] = std::move(value);
  return "data: " + detail::dump(body) + "\n\n";
}

}  // namespace hayate::api
