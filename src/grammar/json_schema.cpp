// JSON Schema -> GBNF: each sub-schema becomes a rule (named after its path), JSON's building
// blocks come from json_value_rules(). Numbers are bounded to 16 digits (exponents to 2, so a
// double holds every one) and whitespace between
// tokens to one space, so that a generation always has a short way to finish (and a model
// wastes no tokens on indentation). That space is written `" "?` in place rather than as a shared
// rule: each occurrence is then a rule of its own, whose surroundings the matcher knows ahead of
// time (a shared `ws` would leave every token that starts with a space to be checked per step).
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/sources.h"

namespace hayate::grammar {
namespace {

using json = nlohmann::ordered_json;

constexpr int kMaxDepth = 128;

const char kValueRules[] = R"(value ::= object | array | string | number | boolean | null
object ::= "{" " "? ( string " "? ":" " "? value ( " "? "," " "? string " "? ":" " "? value )* )? " "? "}"
array ::= "[" " "? ( value ( " "? "," " "? value )* )? " "? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
number ::= integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?
boolean ::= "true" | "false"
null ::= "null"
)";

// Rules for the supported string formats (dates with days up to 28, valid in every month).
const std::map<std::string, std::string> kFormats = {
    {"date", R"([0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ))"},
    {"time",
     R"(( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))"},
    {"date-time",
     R"([0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) "T" ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))"},
    {"uuid", R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})"},
    {"email", R"([a-z0-9_+-]{1,24} "@" [a-z0-9] ( [a-z0-9-]{0,10} [a-z0-9] )? ( "." [a-z]{2,8} ){1,2})"},
};

// Keywords that describe and never constrain.
const std::set<std::string> kAnnotations = {
    "$schema",     "$id",      "$comment",   "$anchor",          "title",          "description",
    "default",     "examples", "deprecated", "readOnly",         "writeOnly",      "$defs",
    "definitions", "strict",   "name",       "contentMediaType", "contentEncoding"};

const std::set<std::string> kKeywords = {"type",
                                         "properties",
                                         "required",
                                         "additionalProperties",
                                         "enum",
                                         "const",
                                         "items",
                                         "prefixItems",
                                         "minItems",
                                         "maxItems",
                                         "minLength",
                                         "maxLength",
                                         "pattern",
                                         "format",
                                         "minimum",
                                         "maximum",
                                         "exclusiveMinimum",
                                         "exclusiveMaximum",
                                         "$ref",
                                         "anyOf",
                                         "oneOf",
                                         "allOf",
                                         "nullable",
                                         "uniqueItems"};

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
  fail(ErrorKind::Unsupported, "JSON Schema: " + what + " (at " + path + ") is not supported");
}
[[noreturn]] void invalid(const std::string& path, const std::string& what) {
  fail(ErrorKind::BadInput, "JSON Schema: " + path + ": " + what);
}

std::string digits_class(char lo, char hi) {
  if (lo == hi) return std::string("\"") + lo + "\"";
  return std::string("[") + lo + "-" + hi + "]";
}

// The decimal numbers of a's length from a to b (same length, a <= b), as GBNF.
// Linear in the length: a run of zeros to a run of nines is one class.
std::string between(const std::string& a, const std::string& b) {
  if (a.empty()) return "";
  if (a.find_first_not_of('0') == std::string::npos && b.find_first_not_of('9') == std::string::npos)
    return "[0-9]{" + std::to_string(a.size()) + "}";
  if (a[0] == b[0]) {
    const std::string rest = between(a.substr(1), b.substr(1));
    return digits_class(a[0], a[0]) + (rest.empty() ? "" : " " + rest);
  }
  const size_t n = a.size() - 1;
  std::vector<std::string> alts;
  auto with = [&](char d, const std::string& rest) { return digits_class(d, d) + (rest.empty() ? "" : " " + rest); };
  alts.push_back(with(a[0], between(a.substr(1), std::string(n, '9'))));
  if (a[0] + 1 <= b[0] - 1)
    alts.push_back(digits_class(char(a[0] + 1), char(b[0] - 1)) + (n ? " [0-9]{" + std::to_string(n) + "}" : ""));
  alts.push_back(with(b[0], between(std::string(n, '0'), b.substr(1))));
  std::string out = "(";
  for (size_t k = 0; k < alts.size(); ++k) out += (k ? " | " : "") + alts[k];
  return out + ")";
}

constexpr int kMaxDigits = 16;

// Non-negative integers in [lo, hi] (hi < 0: no upper bound, up to kMaxDigits digits).
std::string nonneg_range(int64_t lo, int64_t hi) {
  const std::string a = std::to_string(lo);
  const size_t top = hi < 0 ? kMaxDigits : std::to_string(hi).size();
  std::vector<std::string> alts;
  for (size_t len = a.size(); len <= top; ++len) {
    std::string from = a;
    if (len != a.size()) from = std::string(1, '1').append(len - 1, '0');
    const std::string to = (hi >= 0 && len == top) ? std::to_string(hi) : std::string(len, '9');
    alts.push_back(between(from, to));
  }
  std::string out = "(";
  for (size_t k = 0; k < alts.size(); ++k) out += (k ? " | " : "") + alts[k];
  return out + ")";
}

class Converter {
 public:
  Converter(const json& root, std::string prefix) : root_(root), prefix_(std::move(prefix)) {}

  // The schema's rules, its own named prefix + "root"; without json_value_rules().
  std::string run() {
    const std::string body = visit(root_, "root", "#", 0);
    std::string out = prefix_ + "root ::= " + body + "\n";
    for (const auto& [name, rhs] : rules_) out += name + " ::= " + rhs + "\n";
    return out;
  }

 private:
  std::string fresh(const std::string& hint) {
    std::string name;
    for (char c : hint) name += ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c : '-';
    if (name.size() > 48) name.resize(48);
    name = prefix_ + "s-" + name;
    const std::string base = name;
    for (int k = 2; rules_.count(name) || reserved_.count(name); ++k) name = base + "-" + std::to_string(k);
    reserved_.insert(name);
    return name;
  }

  std::string rule(const std::string& hint, const std::string& rhs) {
    const std::string name = fresh(hint);
    rules_[name] = rhs;
    return name;
  }

  const json& resolve(const std::string& ref, const std::string& path) {
    if (ref.empty() || ref[0] != '#')
      unsupported(path, "the $ref '" + ref + "' (only references inside the schema, '#...')");
    const json* at = &root_;
    try {
      if (ref.size() > 1) at = &root_.at(json::json_pointer(ref.substr(1)));
    } catch (const json::exception&) {
      invalid(path, "the $ref '" + ref + "' points at nothing in the schema");
    }
    return *at;
  }

  static std::string literal(const json& v) { return gbnf_literal(v.dump()); }

  std::string alternatives(const std::vector<std::string>& alts) {
    if (alts.size() == 1) return alts[0];
    std::string out = "(";
    for (size_t k = 0; k < alts.size(); ++k) out += (k ? " | " : "") + alts[k];
    return out + ")";
  }

  std::string visit(const json& s, const std::string& hint, const std::string& path, int depth) {
    if (depth > kMaxDepth) invalid(path, "the schema nests deeper than " + std::to_string(kMaxDepth) + " levels");
    if (s.is_boolean()) {
      if (!s.get<bool>()) invalid(path, "the schema 'false' allows no value");
      return "value";
    }
    if (!s.is_object()) invalid(path, "a schema must be an object or a boolean");
    for (const auto& [key, unused] : s.items())
      if (!kKeywords.count(key) && !kAnnotations.count(key)) unsupported(path, "the keyword '" + key + "'");

    if (s.contains("$ref")) {
      for (const auto& [key, unused] : s.items())
        if (key != "$ref" && kKeywords.count(key)) unsupported(path, "'" + key + "' beside '$ref'");
      if (!s["$ref"].is_string()) invalid(path, "'$ref' must be a string");
      const std::string ref = s["$ref"].get<std::string>();
      if (const auto it = refs_.find(ref); it != refs_.end()) return it->second;
      const std::string name = fresh("ref" + ref);
      refs_[ref] = name;
      const std::string rhs = visit(resolve(ref, path), "ref" + ref, ref, depth + 1);
      rules_[name] = rhs;
      return name;
    }
    std::string body = visit_value(s, hint, path, depth);
    if (s.value("nullable", false)) body = "(" + body + " | null)";
    return body;
  }

  std::string visit_value(const json& s, const std::string& hint, const std::string& path, int depth) {
    if (s.contains("const")) return literal(s["const"]);
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) invalid(path, "'enum' must be a non-empty array");
      std::vector<std::string> alts;
      for (const json& v : s["enum"]) alts.push_back(literal(v));
      return alternatives(alts);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      if (!s[key].is_array() || s[key].empty()) invalid(path, std::string("'") + key + "' must be a non-empty array");
      std::vector<std::string> alts;
      for (size_t i = 0; i < s[key].size(); ++i)
        alts.push_back(
            visit(s[key][i], hint + "-" + std::to_string(i), path + "/" + key + "/" + std::to_string(i), depth + 1));
      return rule(hint, alternatives(alts));
    }
    if (s.contains("allOf")) {
      if (!s["allOf"].is_array() || s["allOf"].size() != 1) unsupported(path, "'allOf' with other than one schema");
      return visit(s["allOf"][0], hint, path + "/allOf/0", depth + 1);
    }
    if (s.contains("type") && s["type"].is_array()) {
      std::vector<std::string> alts;
      for (const json& t : s["type"]) {
        json one = s;
        one["type"] = t;
        alts.push_back(visit_value(one, hint, path, depth));
      }
      if (alts.empty()) invalid(path, "'type' is an empty list");
      return alternatives(alts);
    }
    std::string type;
    if (s.contains("type")) {
      if (!s["type"].is_string()) invalid(path, "'type' must be a string or a list of strings");
      type = s["type"].get<std::string>();
    } else if (s.contains("properties") || s.contains("additionalProperties")) {
      type = "object";
    } else if (s.contains("items") || s.contains("prefixItems")) {
      type = "array";
    } else if (s.contains("pattern") || s.contains("format") || s.contains("minLength") || s.contains("maxLength")) {
      type = "string";
    } else {
      return "value";
    }
    if (type == "string") return string_schema(s, hint, path);
    if (type == "integer") return integer_schema(s, path);
    if (type == "number") return number_schema(s, path);
    if (type == "boolean") return "boolean";
    if (type == "null") return "null";
    if (type == "object") return object_schema(s, hint, path, depth);
    if (type == "array") return array_schema(s, hint, path, depth);
    invalid(path, "unknown type '" + type + "'");
  }

  static int64_t count(const json& s, const char* key, const std::string& path, int64_t fallback) {
    if (!s.contains(key)) return fallback;
    const json& v = s[key];
    if (!v.is_number_integer() && !v.is_number_unsigned())
      invalid(path, std::string("'") + key + "' must be an integer");
    const int64_t n = v.get<int64_t>();
    if (n < 0) invalid(path, std::string("'") + key + "' must not be negative");
    if (n > 1000) unsupported(path, std::string("'") + key + "' above 1000");
    return n;
  }

  std::string string_schema(const json& s, const std::string& hint, const std::string& path) {
    if (s.contains("pattern")) {
      if (s.contains("minLength") || s.contains("maxLength") || s.contains("format"))
        unsupported(path, "'pattern' together with 'minLength', 'maxLength' or 'format'");
      if (!s["pattern"].is_string()) invalid(path, "'pattern' must be a string");
      return rule(hint, "\"\\\"\" " + regex_to_gbnf(s["pattern"].get<std::string>(), true) + " \"\\\"\"");
    }
    if (s.contains("format")) {
      const std::string f = s["format"].is_string() ? s["format"].get<std::string>() : "";
      const auto it = kFormats.find(f);
      if (it == kFormats.end()) unsupported(path, "the string format '" + s["format"].dump() + "'");
      if (s.contains("minLength") || s.contains("maxLength"))
        unsupported(path, "'format' together with 'minLength' or 'maxLength'");
      return rule("format-" + f, "\"\\\"\" " + it->second + " \"\\\"\"");
    }
    if (!s.contains("minLength") && !s.contains("maxLength")) return "string";
    const int64_t lo = count(s, "minLength", path, 0), hi = count(s, "maxLength", path, -1);
    if (hi >= 0 && hi < lo) invalid(path, "'maxLength' is below 'minLength'");
    const std::string reps =
        hi < 0 ? "{" + std::to_string(lo) + ",}" : "{" + std::to_string(lo) + "," + std::to_string(hi) + "}";
    return rule(hint + "-string", "\"\\\"\" char" + reps + " \"\\\"\"");
  }

  static std::optional<double> bound(const json& s, const char* key, const std::string& path) {
    if (!s.contains(key)) return std::nullopt;
    if (!s[key].is_number()) invalid(path, std::string("'") + key + "' must be a number");
    return s[key].get<double>();
  }

  std::string integer_schema(const json& s, const std::string& path) {
    std::optional<double> lo = bound(s, "minimum", path), hi = bound(s, "maximum", path);
    if (auto x = bound(s, "exclusiveMinimum", path)) lo = std::max(lo.value_or(*x), std::floor(*x) + 1);
    if (auto x = bound(s, "exclusiveMaximum", path)) hi = std::min(hi.value_or(*x), std::ceil(*x) - 1);
    if (!lo && !hi) return "integer";
    constexpr double kLimit = 1e15;
    if ((lo && std::fabs(*lo) > kLimit) || (hi && std::fabs(*hi) > kLimit))
      unsupported(path, "an integer bound beyond 10^15");
    const auto l = lo ? static_cast<int64_t>(std::ceil(*lo)) : std::optional<int64_t>();
    const auto h = hi ? static_cast<int64_t>(std::floor(*hi)) : std::optional<int64_t>();
    if (l && h && *l > *h) invalid(path, "no integer lies between the minimum and the maximum");
    std::vector<std::string> alts;
    // Negative part: -(magnitudes), then the non-negative part.
    if (!l || *l < 0) {
      const int64_t mag_lo = (h && *h < 0) ? -*h : 1;
      const int64_t mag_hi = l ? -*l : -1;
      alts.push_back("\"-\" " + nonneg_range(mag_lo, mag_hi));
    }
    if (!h || *h >= 0) alts.push_back(nonneg_range(l && *l > 0 ? *l : 0, h ? *h : -1));
    return rule("integer-range", alternatives(alts));
  }

  std::string number_schema(const json& s, const std::string& path) {
    const auto lo = bound(s, "minimum", path);
    if (s.contains("maximum") || s.contains("exclusiveMinimum") || s.contains("exclusiveMaximum") || (lo && *lo != 0))
      unsupported(path, "bounds on a 'number' other than 'minimum': 0 (use 'integer' for ranges)");
    if (lo) return rule("nonneg-number", "( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )?");
    return "number";
  }

  std::string object_schema(const json& s, const std::string& hint, const std::string& path, int depth) {
    for (const char* key : {"minProperties", "maxProperties", "patternProperties", "propertyNames"})
      if (s.contains(key)) unsupported(path, std::string("'") + key + "'");
    const json props = s.value("properties", json::object());
    if (!props.is_object()) invalid(path, "'properties' must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) invalid(path, "'required' must be an array of names");
      for (const json& r : s["required"]) {
        if (!r.is_string()) invalid(path, "'required' must be an array of names");
        required.insert(r.get<std::string>());
      }
    }
    const json extra = s.value("additionalProperties", json(true));
    if (props.empty() && required.empty()) {
      if (extra.is_boolean()) return extra.get<bool>() ? "object" : "\"{\" \" \"? \"}\"";
      const std::string v = visit(extra, hint + "-value", path + "/additionalProperties", depth + 1);
      const std::string kv = "string \" \"? \":\" \" \"? " + v;
      return rule(hint, "\"{\" \" \"? ( " + kv + " ( \" \"? \",\" \" \"? " + kv + " )* )? \" \"? \"}\"");
    }
    // Each property as `"key" ws ":" ws value`, in the schema's order, then required names the
    // properties do not describe (any value).
    std::vector<std::pair<std::string, bool>> kvs;  // rule body, required
    for (const auto& [name, sub] : props.items()) {
      const std::string v = visit(sub, hint + "-" + name, path + "/properties/" + name, depth + 1);
      kvs.emplace_back(literal(json(name)) + " \" \"? \":\" \" \"? " + v, required.count(name) > 0);
    }
    for (const std::string& name : required)
      if (!props.contains(name)) kvs.emplace_back(literal(json(name)) + " \" \"? \":\" \" \"? value", true);
    // first_i: properties i.. with none written yet; rest_i: with one written (so each starts
    // with a comma). Built from the back.
    std::string first = "\"\"", rest = "\"\"";
    for (size_t k = kvs.size(); k-- > 0;) {
      const auto& [kv, req] = kvs[k];
      const std::string kv_rule = rule(hint + "-kv", kv);
      const std::string next_rest = rest;
      const std::string rest_rule = next_rest == "\"\"" ? "" : " " + next_rest;
      const std::string with = kv_rule + rest_rule;
      const std::string new_rest =
          req ? "\" \"? \",\" \" \"? " + kv_rule + rest_rule : "( \" \"? \",\" \" \"? " + kv_rule + " )?" + rest_rule;
      const std::string new_first = req ? with : "( " + with + " | " + first + " )";
      rest = rule(hint + "-rest", new_rest);
      first = rule(hint + "-first", new_first);
    }
    return rule(hint, "\"{\" \" \"? " + first + " \" \"? \"}\"");
  }

  std::string array_schema(const json& s, const std::string& hint, const std::string& path, int depth) {
    if (s.contains("contains")) unsupported(path, "'contains'");
    if (s.value("uniqueItems", false)) unsupported(path, "'uniqueItems': true");
    const int64_t lo = count(s, "minItems", path, 0), hi = count(s, "maxItems", path, -1);
    if (hi >= 0 && hi < lo) invalid(path, "'maxItems' is below 'minItems'");
    std::vector<std::string> prefix;
    if (s.contains("prefixItems")) {
      if (!s["prefixItems"].is_array()) invalid(path, "'prefixItems' must be an array of schemas");
      for (size_t i = 0; i < s["prefixItems"].size(); ++i)
        prefix.push_back(visit(s["prefixItems"][i], hint + "-" + std::to_string(i),
                               path + "/prefixItems/" + std::to_string(i), depth + 1));
    }
    const json items = s.value("items", json(true));
    const bool more = !(items.is_boolean() && !items.get<bool>());
    const auto n_prefix = static_cast<int64_t>(prefix.size());
    if (hi >= 0 && hi < n_prefix) unsupported(path, "'maxItems' below the number of 'prefixItems'");
    if (!more && lo > n_prefix) invalid(path, "'minItems' needs more items than 'prefixItems' allows");
    std::string seq;
    for (size_t i = 0; i < prefix.size(); ++i) seq += (i ? " \" \"? \",\" \" \"? " : "") + prefix[i];
    if (more) {
      const std::string item = visit(items, hint + "-item", path + "/items", depth + 1);
      const int64_t min_rest = std::max<int64_t>(0, lo - n_prefix);
      const int64_t max_rest = hi < 0 ? -1 : hi - n_prefix;
      if (max_rest != 0) {
        if (prefix.empty()) {
          // item ( "," item ){min-1, max-1}, optional as a whole when min is 0.
          const std::string reps = "{" + std::to_string(std::max<int64_t>(0, min_rest - 1)) + "," +
                                   (max_rest < 0 ? "" : std::to_string(max_rest - 1)) + "}";
          const std::string list = item + " ( \" \"? \",\" \" \"? " + item + " )" + reps;
          seq = min_rest == 0 ? "( " + list + " )?" : list;
        } else {
          const std::string reps =
              "{" + std::to_string(min_rest) + "," + (max_rest < 0 ? "" : std::to_string(max_rest)) + "}";
          seq += " ( \" \"? \",\" \" \"? " + item + " )" + reps;
        }
      }
    }
    if (seq.empty()) seq = "\"\"";
    return rule(hint, "\"[\" \" \"? " + seq + " \" \"? \"]\"");
  }

  const json& root_;
  const std::string prefix_;
  std::map<std::string, std::string> rules_;
  std::set<std::string> reserved_;
  std::map<std::string, std::string> refs_;
};

}  // namespace

std::string json_value_rules() { return kValueRules; }

std::string json_object_gbnf() { return std::string("root ::= object\n") + kValueRules; }

std::string json_schema_to_gbnf(const json& schema, size_t max_bytes) {
  return json_schema_rules(schema, "", max_bytes) + kValueRules;
}

std::string json_schema_rules(const json& schema, const std::string& prefix, size_t max_bytes) {
  const size_t size = schema.dump().size();
  if (size > max_bytes)
    fail(ErrorKind::BadInput, "JSON Schema: the schema is " + std::to_string(size) + " bytes, over the limit of " +
                                  std::to_string(max_bytes));
  try {
    return Converter(schema, prefix).run();
  } catch (const json::exception& e) {
    // A keyword of the wrong type that a lookup read as another ("nullable": 1).
    fail(ErrorKind::BadInput, std::string("JSON Schema: a keyword has a value of the wrong type: ") + e.what());
  }
}

}  // namespace hayate::grammar
