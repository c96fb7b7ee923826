// What users write, as GBNF text (grammar.h parses it): JSON Schema, json_object, regular
// expressions. Each is Error(BadInput) for a malformed source and Error(Unsupported) naming the
// feature for one this build cannot enforce: nothing is silently ignored.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace hayate::grammar {

// A regular expression (ECMAScript-like: | () (?:) [] . \d \w \s \D \W \S escapes, * + ? {m,n},
// lazy forms, ^ at the start and $ at the end) as a GBNF expression for the whole match.
// in_json_string: the text lands inside a JSON string, so '"', '\' and control characters are
// written escaped when literal and left out of classes and '.'.
std::string regex_to_gbnf(std::string_view pattern, bool in_json_string = false);

// Everything but the root rule that a JSON value needs (value, object, array, string, number,
// integer, boolean, null).
std::string json_value_rules();

// `root ::= object` and json_value_rules(): any JSON object (response_format json_object).
std::string json_object_gbnf();

// A JSON Schema (draft 2020-12 / OpenAI structured outputs subset): type (and type lists),
// properties, required, additionalProperties, enum, const, items, prefixItems, minItems,
// maxItems, minLength, maxLength, pattern, format (date, time, date-time, uuid, email),
// minimum/maximum/exclusive* on integers, $ref to $defs/definitions (recursion included), anyOf,
// oneOf, allOf of one schema, nullable; annotations (title, description, default, examples ...)
// are ignored. Properties come in the schema's order; strings hold no more than the JSON they
// need. The schema's JSON text may be up to max_bytes long. Ordered JSON, so that properties
// keep the order the client wrote them in (which OpenAI's structured outputs follow).
std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema, size_t max_bytes = 1 << 20);
// The same schema's rules alone, to combine several schemas in one grammar (tool calls): the
// schema's rule is prefix + "root", every rule's name starts with prefix, and the grammar must add
// json_value_rules() once.
std::string json_schema_rules(const nlohmann::ordered_json& schema, const std::string& prefix,
                              size_t max_bytes = 1 << 20);

}  // namespace hayate::grammar
