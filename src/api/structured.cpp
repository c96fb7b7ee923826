// The request fields of structured output and tool calling: their shapes are checked here (a 400
// naming the field); the grammar they become is the server's (server/structured.cpp).
#include <limits>

#include "api/parse_util.h"

namespace hayate::api {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using detail::bad;
using detail::describe;
using detail::field;

// A schema's text may not exceed this; larger ones are refused before any parsing with key order.
constexpr size_t kMaxSchemaBytes = 1 << 20;

// The body again with object keys in the client's order: a JSON Schema's property order is the
// order the model writes them in. Parsed only when a request has a schema.
const ojson& ordered_body(std::string_view body, ojson& cache) {
  if (cache.is_null()) cache = ojson::parse(body.begin(), body.end());
  return cache;
}

std::string string_field(const json& obj, const char* key, const std::string& param) {
  const json* v = field(obj, key);
  if (!v || !v->is_string()) bad(param, "'" + param + "' must be a string, got " + (v ? describe(*v) : "nothing"));
  return v->get<std::string>();
}

void check_schema_size(const json& schema, const std::string& param) {
  const size_t size = schema.dump().size();
  if (size > kMaxSchemaBytes)
    bad(param, "'" + param + "' is " + std::to_string(size) + " bytes of JSON, over the limit of " +
                   std::to_string(kMaxSchemaBytes) + " bytes");
}

}  // namespace

OutputConstraint parse_constraint(const json& j, std::string_view body) {
  OutputConstraint c;
  int sources = 0;
  ojson ordered;
  if (const json* rf = field(j, "response_format")) {
    if (!rf->is_object()) bad("response_format", "'response_format' must be an object, got " + describe(*rf));
    const std::string type = string_field(*rf, "type", "response_format.type");
    if (type == "json_object") {
      c.kind = OutputConstraint::JsonObject;
      ++sources;
    } else if (type == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object())
        bad("response_format.json_schema",
            "'response_format.json_schema' must be an object {\"name\", \"schema\", \"strict\"}");
      const json* schema = field(*js, "schema");
      if (!schema || !(schema->is_object() || schema->is_boolean()))
        bad("response_format.json_schema.schema", "'response_format.json_schema.schema' must be a JSON Schema object");
      check_schema_size(*schema, "response_format.json_schema.schema");
      c.kind = OutputConstraint::JsonSchema;
      c.schema = ordered_body(body, ordered)["response_format"]["json_schema"]["schema"];
      ++sources;
    } else if (type != "text") {
      bad("response_format.type", "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\", got " +
                                      describe(rf->at("type")));
    }
  }
  if (field(j, "grammar")) {
    c.kind = OutputConstraint::Grammar;
    c.text = string_field(j, "grammar", "grammar");
    ++sources;
  }
  if (field(j, "regex")) {
    c.kind = OutputConstraint::Regex;
    c.text = string_field(j, "regex", "regex");
    ++sources;
  }
  if (sources > 1)
    bad("response_format", "give one of 'response_format' (json_object or json_schema), 'grammar' and 'regex'");
  return c;
}

void parse_tools(const json& j, std::string_view body, ChatCompletionRequest& r) {
  ojson ordered;
  if (const json* tools = field(j, "tools")) {
    if (!tools->is_array()) bad("tools", "'tools' must be an array of {\"type\": \"function\", \"function\"}");
    for (size_t i = 0; i < tools->size(); ++i) {
      const std::string at = "tools[" + std::to_string(i) + "]";
      const json& t = (*tools)[i];
      if (!t.is_object()) bad(at, "'" + at + "' must be an object");
      if (string_field(t, "type", at + ".type") != "function")
        bad(at + ".type", "'" + at + ".type' must be \"function\"");
      const json* fn = field(t, "function");
      if (!fn || !fn->is_object()) bad(at + ".function", "'" + at + ".function' must be an object with a 'name'");
      Tool tool;
      tool.name = string_field(*fn, "name", at + ".function.name");
      if (tool.name.empty() || tool.name.size() > 64 ||
          tool.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
              std::string::npos)
        bad(at + ".function.name", "'" + at + ".function.name' must be 1 to 64 letters, digits, '_', '-' or '.'");
      for (const Tool& other : r.tools)
        if (other.name == tool.name) bad(at + ".function.name", "two tools are named '" + tool.name + "'");
      if (const json* d = field(*fn, "description"); d && d->is_string()) tool.description = d->get<std::string>();
      if (const json* p = field(*fn, "parameters")) {
        if (!p->is_object()) bad(at + ".function.parameters", "'" + at + ".function.parameters' must be a JSON Schema");
        check_schema_size(*p, at + ".function.parameters");
        tool.parameters = ordered_body(body, ordered)["tools"][i]["function"]["parameters"];
      }
      r.tools.push_back(std::move(tool));
    }
    r.tools_json = *tools;
  }
  if (const json* tc = field(j, "tool_choice")) {
    if (tc->is_string()) {
      const std::string mode = tc->get<std::string>();
      if (mode == "auto")
        r.tool_choice.mode = ToolChoice::Auto;
      else if (mode == "none")
        r.tool_choice.mode = ToolChoice::None;
      else if (mode == "required")
        r.tool_choice.mode = ToolChoice::Required;
      else
        bad("tool_choice",
            "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
            "\"function\": {\"name\"}}, got " +
                describe(*tc));
    } else if (tc->is_object()) {
      const json* fn = field(*tc, "function");
      if (!fn || !fn->is_object()) bad("tool_choice.function", "'tool_choice.function' must be {\"name\": ...}");
      r.tool_choice.mode = ToolChoice::Named;
      r.tool_choice.name = string_field(*fn, "name", "tool_choice.function.name");
      bool known = false;
      for (const Tool& t : r.tools) known = known || t.name == r.tool_choice.name;
      if (!known) bad("tool_choice", "'tool_choice' names '" + r.tool_choice.name + "', which is not in 'tools'");
    } else {
      bad("tool_choice", "'tool_choice' must be a string or an object, got " + describe(*tc));
    }
    if ((r.tool_choice.mode == ToolChoice::Required || r.tool_choice.mode == ToolChoice::Named) && r.tools.empty())
      bad("tool_choice", "'tool_choice' asks for a tool call but 'tools' is empty");
  }
  if (const json* p = field(j, "parallel_tool_calls")) {
    if (!p->is_boolean()) bad("parallel_tool_calls", "'parallel_tool_calls' must be true or false");
    r.parallel_tool_calls = p->get<bool>();
  }
  const bool calls = !r.tools.empty() && r.tool_choice.mode != ToolChoice::None;
  if (calls && r.constraint.kind != OutputConstraint::None && r.tool_choice.mode != ToolChoice::Auto)
    bad("tool_choice", "a required tool call cannot be combined with 'response_format', 'grammar' or 'regex'");
}

std::vector<std::pair<int32_t, float>> parse_logit_bias(const json& j) {
  std::vector<std::pair<int32_t, float>> out;
  const json* lb = field(j, "logit_bias");
  if (!lb) return out;
  if (!lb->is_object()) bad("logit_bias", "'logit_bias' must be an object {\"token id\": bias}, got " + describe(*lb));
  if (lb->size() > 1024) bad("logit_bias", "'logit_bias' may hold at most 1024 tokens");
  for (const auto& [key, value] : lb->items()) {
    int64_t id = -1;
    const bool digits = !key.empty() && key.size() <= 10 && key.find_first_not_of("0123456789") == std::string::npos;
    if (digits) id = std::stoll(key);
    if (!digits || id > std::numeric_limits<int32_t>::max())
      bad("logit_bias", "'logit_bias' keys must be token ids (\"1234\"), got \"" + key + "\"");
    if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100)
      bad("logit_bias", "'logit_bias[\"" + key + "\"]' must be a number in [-100, 100], got " + describe(value));
    out.emplace_back(static_cast<int32_t>(id), value.get<float>());
  }
  return out;
}

ReasoningFormat parse_reasoning_format(const json& j) {
  const json* v = field(j, "reasoning_format");
  if (!v) return ReasoningFormat::Split;
  const std::string f = v->is_string() ? v->get<std::string>() : "";
  if (f == "split") return ReasoningFormat::Split;
  if (f == "keep") return ReasoningFormat::Keep;
  if (f == "drop") return ReasoningFormat::Drop;
  bad("reasoning_format", "'reasoning_format' must be \"split\", \"keep\" or \"drop\", got " + describe(*v));
}

}  // namespace hayate::api
