#include "server/structured.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_scan.h"
#include "grammar/grammar.h"
#include "grammar/sources.h"

namespace hayate::server {
namespace {

using ojson = nlohmann::ordered_json;

// The markers that open a call in each format (none for plain JSON).
const char* call_marker(ToolFormat f) {
  switch (f) {
    case ToolFormat::Hermes:
      return "<tool_call>";
    case ToolFormat::Mistral:
      return "[TOOL_CALLS]";
    case ToolFormat::Llama3:
      return "<|python_tag|>";
    case ToolFormat::Json:
      return "";
  }
  return "";
}

// A logit_bias and perhaps a grammar on one sequence.
class RequestConstraint : public Constraint {
 public:
  RequestConstraint(std::shared_ptr<const grammar::CompiledGrammar> g, std::vector<std::pair<int32_t, float>> bias)
      : bias_(std::move(bias)) {
    if (g) matcher_.emplace(std::move(g));
  }
  void mask(std::span<float> logits) override {
    for (const auto& [id, b] : bias_)
      if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] += b;
    if (matcher_) matcher_->mask(logits);
  }
  bool accept(int32_t id) override {
    if (!matcher_) return false;
    if (!matcher_->accept(id))
      fail(ErrorKind::Internal, "grammar: the sampler chose token " + std::to_string(id) + ", which the mask forbade");
    return matcher_->done();
  }

 private:
  std::vector<std::pair<int32_t, float>> bias_;
  std::optional<grammar::Matcher> matcher_;
};

// The end of a JSON value that starts at text[i] ('{' or '['), or npos while it is unfinished.
size_t json_end(const std::string& text, size_t i) {
  JsonScan scan;
  for (; i < text.size(); ++i)
    if (scan.step(text[i]) < 0 && scan.depth == 0) return i + 1;
  return std::string::npos;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// The length of the longest suffix of s that begins `marker` (and could complete it).
size_t partial_suffix(const std::string& s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n)
    if (marker.substr(0, n) == std::string_view(s).substr(s.size() - n)) return n;
  return 0;
}

std::string new_call_id() { return api::new_request_id("call_"); }

// {"name", "arguments"|"parameters"} as a call of a declared tool.
bool call_from(const ojson& j, const std::vector<std::string>& names, std::vector<api::ToolCall>& out) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  const std::string name = j["name"].get<std::string>();
  if (std::find(names.begin(), names.end(), name) == names.end()) return false;
  const ojson* args = j.contains("arguments") ? &j["arguments"] : j.contains("parameters") ? &j["parameters"] : nullptr;
  api::ToolCall call{new_call_id(), name, "{}"};
  if (args) call.arguments = args->is_string() ? args->get<std::string>() : args->dump();
  out.push_back(std::move(call));
  return true;
}

// Calls from a run of JSON values (objects, or arrays of objects, separated by whitespace, ','
// or ';'); false when anything else is there.
bool calls_from_json_run(const std::string& text, const std::vector<std::string>& names,
                         std::vector<api::ToolCall>& out) {
  size_t i = 0;
  bool any = false;
  while (true) {
    i = text.find_first_not_of(" \t\r\n,;", i);
    if (i == std::string::npos) return any;
    if (text[i] != '{' && text[i] != '[') return false;
    const size_t end = json_end(text, i);
    if (end == std::string::npos) return false;
    const ojson j = ojson::parse(text.substr(i, end - i), nullptr, false);
    if (j.is_discarded()) return false;
    if (j.is_array()) {
      for (const ojson& x : j)
        if (!call_from(x, names, out)) return false;
    } else if (j.contains("tool_calls") && j["tool_calls"].is_array()) {
      for (const ojson& x : j["tool_calls"])
        if (!call_from(x, names, out)) return false;
    } else if (!call_from(j, names, out)) {
      return false;
    }
    any = true;
    i = end;
  }
}

}  // namespace

const char* constraint_param(const api::OutputConstraint& c) {
  switch (c.kind) {
    case api::OutputConstraint::Grammar:
      return "grammar";
    case api::OutputConstraint::Regex:
      return "regex";
    case api::OutputConstraint::None:
      return "tools";
    default:
      return "response_format";
  }
}

ToolFormat detect_tool_format(const std::string& t) {
  if (t.find("<tool_call>") != std::string::npos) return ToolFormat::Hermes;
  if (t.find("[TOOL_CALLS]") != std::string::npos) return ToolFormat::Mistral;
  if (t.find("<|python_tag|>") != std::string::npos || t.find("ipython") != std::string::npos)
    return ToolFormat::Llama3;
  return ToolFormat::Json;
}

const char* to_string(ToolFormat format) {
  switch (format) {
    case ToolFormat::Hermes:
      return "hermes";
    case ToolFormat::Mistral:
      return "mistral";
    case ToolFormat::Llama3:
      return "llama3";
    case ToolFormat::Json:
      return "json";
  }
  return "json";
}

GrammarCache::GrammarCache(const Tokenizer& tok, size_t capacity) : capacity_(capacity) {
  auto v = std::make_shared<grammar::Vocabulary>();
  v->tokens.resize(static_cast<size_t>(tok.n_vocab()));
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_end_of_generation(id)) v->end_ids.push_back(id);
    const TokenType type = tok.token_type(id);
    if (type == TokenType::Control || type == TokenType::Unknown || type == TokenType::Unused) continue;
    v->tokens[static_cast<size_t>(id)] = tok.token_to_piece(id, true);
  }
  vocab_ = std::move(v);
}

std::shared_ptr<const grammar::CompiledGrammar> GrammarCache::get(const std::string& gbnf) {
  {
    std::lock_guard lk(mu_);
    if (const auto it = map_.find(gbnf); it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
  }
  // Compiled outside the lock: two requests with one new grammar may both compile it.
  auto compiled = std::make_shared<const grammar::CompiledGrammar>(grammar::parse_gbnf(gbnf), vocab_);
  std::lock_guard lk(mu_);
  if (map_.count(gbnf)) return map_[gbnf].first;
  lru_.push_front(gbnf);
  map_[gbnf] = {compiled, lru_.begin()};
  while (map_.size() > capacity_) {
    map_.erase(lru_.back());
    lru_.pop_back();
  }
  return compiled;
}

std::string constraint_gbnf(const api::OutputConstraint& c, const std::vector<api::Tool>& tools,
                            const api::ToolChoice& choice, bool parallel, ToolFormat format) {
  const char* param = constraint_param(c);
  try {
    switch (c.kind) {
      case api::OutputConstraint::JsonObject:
        return grammar::json_object_gbnf();
      case api::OutputConstraint::JsonSchema:
        return grammar::json_schema_to_gbnf(c.schema);
      case api::OutputConstraint::Grammar:
        return c.text;
      case api::OutputConstraint::Regex:
        return "root ::= " + grammar::regex_to_gbnf(c.text);
      case api::OutputConstraint::None:
        break;
    }
    if (choice.mode != api::ToolChoice::Required && choice.mode != api::ToolChoice::Named) return "";
    param = "tools";
    // One alternative per callable tool: its name as a literal, its arguments by its schema.
    std::string rules, calls;
    const bool llama = format == ToolFormat::Llama3;
    for (size_t i = 0; i < tools.size(); ++i) {
      const api::Tool& t = tools[i];
      if (choice.mode == api::ToolChoice::Named && t.name != choice.name) continue;
      const std::string prefix = std::string(1, 't').append(std::to_string(i)).append("-");
      rules += grammar::json_schema_rules(t.parameters, prefix);
      const std::string head =
          "{\"name\": " + ojson(t.name).dump() + (llama ? ", \"parameters\": " : ", \"arguments\": ");
      calls += (calls.empty() ? "" : " | ") + grammar::gbnf_literal(head) + " " + prefix + "root \"}\"";
    }
    std::string root;
    const std::string many = parallel && choice.mode == api::ToolChoice::Required ? "{0,3}" : "{0,0}";
    switch (format) {
      case ToolFormat::Hermes:
        root = "call ( \"\\n\" call )" + many + "\ncall ::= \"<tool_call>\\n\" body \"\\n</tool_call>\"";
        break;
      case ToolFormat::Mistral:
        root = "\"[TOOL_CALLS][\" body ( \", \" body )" + many + " \"]\"";
        break;
      case ToolFormat::Llama3:
      case ToolFormat::Json:
        root = "body ( \"; \" body )" + many;
        break;
    }
    return "root ::= " + root + "\nbody ::= " + calls + "\n" + rules + grammar::json_value_rules();
  } catch (const Error& e) {
    throw api::ApiError(400, e.what(), "invalid_request_error", param,
                        e.kind() == ErrorKind::Unsupported ? "unsupported_schema" : "");
  }
}

std::function<std::unique_ptr<Constraint>()> make_constraint(GrammarCache& cache, const std::string& gbnf,
                                                             std::vector<std::pair<int32_t, float>> logit_bias,
                                                             const std::string& param) {
  std::shared_ptr<const grammar::CompiledGrammar> compiled;
  if (!gbnf.empty()) {
    try {
      compiled = cache.get(gbnf);
    } catch (const Error& e) {
      throw api::ApiError(400, e.what(), "invalid_request_error", param,
                          e.kind() == ErrorKind::Unsupported ? "unsupported_schema" : "");
    }
  }
  if (!compiled && logit_bias.empty()) return {};
  return [compiled, bias = std::move(logit_bias)] { return std::make_unique<RequestConstraint>(compiled, bias); };
}

std::vector<api::ToolCall> parse_tool_calls(const std::string& text, ToolFormat format,
                                            const std::vector<std::string>& names) {
  std::vector<api::ToolCall> calls;
  std::string body = text;
  const std::string marker = call_marker(format);
  if (format == ToolFormat::Hermes) {
    // Blocks of <tool_call> ... </tool_call>, nothing but space between them.
    size_t i = 0;
    while ((i = body.find_first_not_of(" \t\r\n", i)) != std::string::npos) {
      if (body.compare(i, marker.size(), marker) != 0) return {};
      const size_t close = body.find("</tool_call>", i);
      const std::string inner =
          body.substr(i + marker.size(), close == std::string::npos ? std::string::npos : close - i - marker.size());
      if (!calls_from_json_run(inner, names, calls)) return {};
      if (close == std::string::npos) break;
      i = close + 12;
    }
    return calls;
  }
  const size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  if (!marker.empty() && body.compare(start, marker.size(), marker) == 0) {
    body = body.substr(start + marker.size());
  } else if (format == ToolFormat::Mistral) {
    return {};
  }
  if (!calls_from_json_run(body, names, calls)) return {};
  return calls;
}

OutputSplitter::OutputSplitter(ToolFormat format, std::vector<std::string> tool_names, api::ReasoningFormat reasoning)
    : format_(format), tools_(std::move(tool_names)), reasoning_(reasoning) {
  if (reasoning_ == api::ReasoningFormat::Keep) phase_ = Phase::Content;
}

void OutputSplitter::step(Piece& out, bool at_end) {
  static constexpr std::string_view kOpen = "<think>", kClose = "</think>";
  while (!held_.empty()) {
    if (phase_ == Phase::Start) {
      const size_t i = held_.find_first_not_of(" \t\r\n");
      if (i == std::string::npos && !at_end) return;
      const std::string_view rest = i == std::string::npos ? "" : std::string_view(held_).substr(i);
      if (rest.size() < kOpen.size() && kOpen.substr(0, rest.size()) == rest && !at_end) return;
      if (rest.substr(0, kOpen.size()) == kOpen) {
        held_ = std::string(rest.substr(kOpen.size()));
        phase_ = Phase::Thinking;
      } else {
        phase_ = Phase::Content;
      }
    } else if (phase_ == Phase::Thinking) {
      const size_t close = held_.find(kClose);
      std::string thought;
      if (close != std::string::npos) {
        thought = held_.substr(0, close);
        held_.erase(0, close + kClose.size());
        phase_ = Phase::Content;
        trim_ = true;
      } else {
        const size_t keep = at_end ? 0 : partial_suffix(held_, kClose);
        thought = held_.substr(0, held_.size() - keep);
        held_.erase(0, held_.size() - keep);
      }
      if (reasoning_ == api::ReasoningFormat::Split) out.reasoning += thought;
      if (close == std::string::npos) return;
    } else if (phase_ == Phase::Content) {
      if (trim_) {  // the blank lines after </think> belong to neither part
        held_.erase(0, std::min(held_.size(), held_.find_first_not_of(" \t\r\n")));
        if (held_.empty()) return;
        trim_ = false;
      }
      if (tools_.empty()) {
        out.content += held_;
        wrote_content_ = true;
        held_.clear();
        return;
      }
      const std::string marker = call_marker(format_);
      if (marker.empty() || format_ == ToolFormat::Llama3) {
        // A bare JSON call can only be the whole output: hold a '{' that starts it.
        const size_t i = held_.find_first_not_of(" \t\r\n");
        if (!wrote_content_ && i == std::string::npos && !at_end) return;
        if (!wrote_content_ && i != std::string::npos &&
            (held_[i] == '{' || held_[i] == '[' ||
             (!marker.empty() && held_.compare(i, std::min(marker.size(), held_.size() - i), marker, 0,
                                               std::min(marker.size(), held_.size() - i)) == 0))) {
          phase_ = Phase::Calls;
          return;
        }
        out.content += held_;
        wrote_content_ = true;
        held_.clear();
        return;
      }
      const size_t at = held_.find(marker);
      if (at != std::string::npos) {
        out.content += held_.substr(0, at);
        held_.erase(0, at);
        phase_ = Phase::Calls;
        return;
      }
      const size_t keep = at_end ? 0 : partial_suffix(held_, marker);
      out.content += held_.substr(0, held_.size() - keep);
      held_.erase(0, held_.size() - keep);
      wrote_content_ = wrote_content_ || !out.content.empty();
      return;
    } else {
      return;  // Calls: held until the end
    }
  }
}

OutputSplitter::Piece OutputSplitter::push(const std::string& text) {
  Piece out;
  held_ += text;
  step(out, false);
  return out;
}

OutputSplitter::Piece OutputSplitter::finish(std::vector<api::ToolCall>& calls) {
  Piece out;
  step(out, true);
  if (phase_ == Phase::Calls) {
    calls = parse_tool_calls(held_, format_, tools_);
    if (calls.empty()) out.content += held_;
  } else if (!held_.empty()) {
    out.content += held_;
  }
  held_.clear();
  if (!blank(out.content) || wrote_content_) wrote_content_ = true;
  return out;
}

}  // namespace hayate::server
