#include "server/data.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "api/openai.h"

namespace hayate::server::data {
namespace {

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw api::ApiError(400, where + ": " + what, "invalid_request_error", "operations");
}

const std::set<std::string> kOps = {"==", "!=", "<", "<=", ">", ">=", "in", "contains", "exists"};

// Throws a 400 naming `where` (as "operations[2].filter.and[0]") for a condition process cannot run.
void check_condition(const json& c, const std::string& where) {
  if (!c.is_object()) bad(where, "a condition must be an object");
  for (const char* combinator : {"and", "or"}) {
    if (!c.contains(combinator)) continue;
    const json& parts = c[combinator];
    if (c.size() != 1) bad(where, std::string("'") + combinator + "' must be the condition's only key");
    if (!parts.is_array() || parts.empty())
      bad(where, std::string("'") + combinator + "' must be a non-empty array of conditions");
    for (size_t i = 0; i < parts.size(); ++i)
      check_condition(parts[i], where + "." + combinator + "[" + std::to_string(i) + "]");
    return;
  }
  if (c.contains("not")) {
    if (c.size() != 1) bad(where, "'not' must be the condition's only key");
    return check_condition(c["not"], where + ".not");
  }
  const auto field = c.find("field");
  if (field == c.end() || !field->is_string() || field->get<std::string>().empty())
    bad(where, "'field' must be a non-empty string (or use 'and', 'or', 'not')");
  const auto op = c.find("op");
  if (op == c.end() || !op->is_string() || !kOps.count(op->get<std::string>()))
    bad(where, "'op' must be one of == != < <= > >= in contains exists");
  const auto value = c.find("value");
  if (value == c.end()) bad(where, "'value' is missing");
  const std::string o = *op;
  if (o == "in" && !value->is_array()) bad(where, "'in' needs an array 'value'");
  if (o == "exists" && !value->is_boolean()) bad(where, "'exists' needs a boolean 'value'");
  if ((o[0] == '<' || o[0] == '>') && !value->is_number() && !value->is_string())
    bad(where, "'" + o + "' needs a number or a string 'value'");
}

// Every name a step reads (group_by, metrics' fields) as strings: one string or an array of them.
std::vector<std::string> names(const json& j, const std::string& where) {
  std::vector<std::string> out;
  if (j.is_string()) {
    if (j.get<std::string>().empty()) bad(where, "a field name must not be empty");
    out.push_back(j);
  } else if (j.is_array()) {
    for (const json& n : j) {
      if (!n.is_string() || n.get<std::string>().empty()) bad(where, "field names must be non-empty strings");
      out.push_back(n);
    }
  } else {
    bad(where, "must be a field name or an array of field names");
  }
  return out;
}

struct Metric {
  std::string fn, field, name;
};

struct GroupState {
  std::vector<json> keys;
  int64_t records = 0;
  std::vector<int64_t> present, numeric;  // per metric
  std::vector<double> sum;
  std::vector<json> min, max;
};

json aggregate(const std::vector<json>& records, const json& spec, const std::string& where) {
  if (!spec.is_object()) bad(where, "must be an object with 'metrics' and an optional 'group_by'");
  for (const auto& [k, v] : spec.items())
    if (k != "group_by" && k != "metrics") bad(where, "unknown key '" + k + "' (group_by, metrics)");
  const std::vector<std::string> by =
      spec.contains("group_by") ? names(spec["group_by"], where + ".group_by") : std::vector<std::string>{};
  const auto ms = spec.find("metrics");
  if (ms == spec.end() || !ms->is_array() || ms->empty()) bad(where, "'metrics' must be a non-empty array");
  std::vector<Metric> metrics;
  std::set<std::string> taken(by.begin(), by.end());
  for (size_t i = 0; i < ms->size(); ++i) {
    const json& m = (*ms)[i];
    const std::string at = where + ".metrics[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(at, "must be an object like {\"fn\": \"mean\", \"field\": \"price\"}");
    Metric metric{m.value("fn", ""), "", ""};
    if (metric.fn != "count" && metric.fn != "sum" && metric.fn != "mean" && metric.fn != "min" && metric.fn != "max")
      bad(at, "'fn' must be one of count sum mean min max");
    if (m.contains("field")) metric.field = names(m["field"], at + ".field").at(0);
    if (metric.field.empty() && metric.fn != "count") bad(at, "'" + metric.fn + "' needs a 'field'");
    metric.name = metric.field.empty() ? metric.fn : metric.fn + "_" + metric.field;
    if (m.contains("as")) metric.name = names(m["as"], at + ".as").at(0);
    if (!taken.insert(metric.name).second)
      bad(at, "the output field '" + metric.name + "' is already taken (name it with 'as')");
    metrics.push_back(metric);
  }
  std::vector<GroupState> groups;
  std::unordered_map<std::string, size_t> index;
  const size_t n = metrics.size();
  for (const json& r : records) {
    json keys = json::array();
    for (const std::string& f : by) keys.push_back(r.contains(f) ? r[f] : json(nullptr));
    auto [it, fresh] = index.emplace(keys.dump(), groups.size());
    if (fresh)
      groups.push_back({keys.get<std::vector<json>>(), 0, std::vector<int64_t>(n), std::vector<int64_t>(n),
                        std::vector<double>(n), std::vector<json>(n), std::vector<json>(n)});
    GroupState& g = groups[it->second];
    ++g.records;
    for (size_t m = 0; m < n; ++m) {
      if (metrics[m].field.empty()) continue;
      const auto v = r.find(metrics[m].field);
      if (v == r.end() || v->is_null()) continue;
      ++g.present[m];
      if (!v->is_number()) continue;
      const double x = v->get<double>();
      if (g.numeric[m]++ == 0 || x < g.min[m].get<double>()) g.min[m] = *v;
      if (g.numeric[m] == 1 || x > g.max[m].get<double>()) g.max[m] = *v;
      g.sum[m] += x;
    }
  }
  json out = json::array();
  for (const GroupState& g : groups) {
    json rec = json::object();
    for (size_t k = 0; k < by.size(); ++k) rec[by[k]] = g.keys[k];
    for (size_t m = 0; m < n; ++m) {
      const Metric& mt = metrics[m];
      json& v = rec[mt.name];
      if (mt.fn == "count")
        v = mt.field.empty() ? g.records : g.present[m];
      else if (g.numeric[m] == 0)
        v = nullptr;  // no number to sum or compare (SQL's NULL)
      else if (mt.fn == "sum")
        v = g.sum[m];
      else if (mt.fn == "mean")
        v = g.sum[m] / static_cast<double>(g.numeric[m]);
      else
        v = mt.fn == "min" ? g.min[m] : g.max[m];
    }
    out.push_back(std::move(rec));
  }
  return out;
}

// The field names of the records in order of first appearance.
std::vector<std::string> field_names(const std::vector<json>& records) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const json& r : records)
    for (const auto& [k, v] : r.items())
      if (seen.insert(k).second) out.push_back(k);
  return out;
}

bool equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

}  // namespace

double quantile(const std::vector<double>& sorted, double q) {
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const auto lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

bool matches(const json& c, const json& record) {
  if (c.contains("and"))
    return std::all_of(c["and"].begin(), c["and"].end(), [&](const json& p) { return matches(p, record); });
  if (c.contains("or"))
    return std::any_of(c["or"].begin(), c["or"].end(), [&](const json& p) { return matches(p, record); });
  if (c.contains("not")) return !matches(c["not"], record);
  const std::string& op = c["op"].get_ref<const std::string&>();
  const json& want = c["value"];
  const auto it = record.find(c["field"].get_ref<const std::string&>());
  const bool present = it != record.end() && !it->is_null();
  if (op == "exists") return present == want.get<bool>();
  if (op == "!=") return !present || !equal(*it, want);
  if (!present) return false;
  const json& v = *it;
  if (op == "==") return equal(v, want);
  if (op == "in") return std::any_of(want.begin(), want.end(), [&](const json& w) { return equal(v, w); });
  if (op == "contains") {
    if (v.is_string() && want.is_string())
      return v.get_ref<const std::string&>().find(want.get_ref<const std::string&>()) != std::string::npos;
    return v.is_array() && std::any_of(v.begin(), v.end(), [&](const json& e) { return equal(e, want); });
  }
  int order;  // ordering compares numbers with numbers and strings with strings only
  if (v.is_number() && want.is_number()) {
    const double a = v.get<double>(), b = want.get<double>();
    order = a < b ? -1 : a > b ? 1 : 0;
  } else if (v.is_string() && want.is_string()) {
    order = v.get_ref<const std::string&>().compare(want.get_ref<const std::string&>());
  } else {
    return false;
  }
  if (op == "<") return order < 0;
  if (op == "<=") return order <= 0;
  if (op == ">") return order > 0;
  return order >= 0;
}

json analyze(const std::vector<json>& records, const std::vector<std::string>& fields, int64_t max_distinct) {
  json out = json::object();
  for (const std::string& f : fields) {
    int64_t count = 0;
    std::map<std::string, int64_t> types;
    std::map<std::string, std::pair<json, int64_t>> distinct;  // by the value's JSON text
    std::vector<double> numbers;
    for (const json& r : records) {
      const auto v = r.find(f);
      if (v == r.end() || v->is_null()) continue;
      ++count;
      ++types[v->type_name()];
      auto [d, fresh] = distinct.try_emplace(v->dump(), *v, 0);
      ++d->second.second;
      if (v->is_number()) numbers.push_back(v->get<double>());
    }
    json a = {{"count", count}, {"missing", static_cast<int64_t>(records.size()) - count}};
    a["type"] = types.empty() ? json(nullptr) : types.size() == 1 ? json(types.begin()->first) : json("mixed");
    if (types.size() > 1) a["types"] = types;
    if (!numbers.empty()) {
      std::sort(numbers.begin(), numbers.end());
      double sum = 0;
      for (double x : numbers) sum += x;
      a["mean"] = sum / static_cast<double>(numbers.size());
      a["min"] = numbers.front();
      a["max"] = numbers.back();
      a["quantiles"] = {{"p25", quantile(numbers, 0.25)},
                        {"p50", quantile(numbers, 0.50)},
                        {"p75", quantile(numbers, 0.75)},
                        {"p95", quantile(numbers, 0.95)}};
    }
    std::vector<const std::pair<json, int64_t>*> by_count;
    for (const auto& [text, vc] : distinct) by_count.push_back(&vc);
    // Most frequent first; ties in the order of the values' JSON text (the map's order).
    std::stable_sort(by_count.begin(), by_count.end(), [](auto* x, auto* y) { return x->second > y->second; });
    json top = json::array();
    for (size_t i = 0; i < by_count.size() && static_cast<int64_t>(i) < max_distinct; ++i)
      top.push_back({{"value", by_count[i]->first}, {"count", by_count[i]->second}});
    a["distinct_count"] = distinct.size();
    a["distinct"] = std::move(top);
    a["distinct_truncated"] = static_cast<int64_t>(distinct.size()) > max_distinct;
    out[f] = std::move(a);
  }
  return out;
}

json process(const json& records, const json& steps, const Limits& limits) {
  if (!records.is_array())
    throw api::ApiError(400, "'records' must be an array of objects", "invalid_request_error", "records");
  if (static_cast<int64_t>(records.size()) > limits.max_records)
    throw api::ApiError(400,
                        "'records' has " + std::to_string(records.size()) + " records; this server takes at most " +
                            std::to_string(limits.max_records) + " (data_max_records)",
                        "invalid_request_error", "records");
  std::vector<json> current;
  current.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].is_object())
      throw api::ApiError(400, "records[" + std::to_string(i) + "] is not an object", "invalid_request_error",
                          "records");
    current.push_back(records[i]);
  }
  const size_t n_fields = field_names(current).size();
  if (static_cast<int64_t>(n_fields) > limits.max_fields)
    throw api::ApiError(400,
                        "the records have " + std::to_string(n_fields) +
                            " distinct fields; this server takes at most " + std::to_string(limits.max_fields) +
                            " (data_max_fields)",
                        "invalid_request_error", "records");
  if (!steps.is_array()) bad("operations", "must be an array of steps such as {\"analyze\": {}}");
  if (static_cast<int64_t>(steps.size()) > limits.max_steps)
    bad("operations", "has " + std::to_string(steps.size()) + " steps; at most " + std::to_string(limits.max_steps));
  json report = json::array();
  for (size_t s = 0; s < steps.size(); ++s) {
    const std::string where = "operations[" + std::to_string(s) + "]";
    const json& step = steps[s];
    if (!step.is_object() || step.size() != 1)
      bad(where, "a step is an object of one key: filter, aggregate or analyze");
    const std::string op = step.begin().key();
    const json& spec = step.begin().value();
    json r = {{"op", op}, {"records_in", current.size()}};
    if (op == "filter") {
      check_condition(spec, where + ".filter");
      std::vector<json> kept;
      for (json& rec : current)
        if (matches(spec, rec)) kept.push_back(std::move(rec));
      current = std::move(kept);
    } else if (op == "aggregate") {
      current = aggregate(current, spec, where + ".aggregate").get<std::vector<json>>();
    } else if (op == "analyze") {
      if (!spec.is_object()) bad(where + ".analyze", "must be an object (may be empty)");
      const int64_t max_distinct = spec.value("max_distinct", int64_t{20});
      if (max_distinct < 0 || max_distinct > limits.max_distinct)
        bad(where + ".analyze", "'max_distinct' must be in [0, " + std::to_string(limits.max_distinct) + "]");
      const std::vector<std::string> fields =
          spec.contains("fields") ? names(spec["fields"], where + ".analyze.fields") : field_names(current);
      r["fields"] = analyze(current, fields, max_distinct);
    } else {
      bad(where, "unknown operation '" + op + "' (filter, aggregate, analyze)");
    }
    r["records_out"] = current.size();
    report.push_back(std::move(r));
  }
  return {{"records", std::move(current)}, {"operations", std::move(report)}};
}

}  // namespace hayate::server::data
