// The data service's operations (issue 18, POST /v1/data/process; docs/tasks.md): JSON records in,
// a pipeline of steps, each taking the records the one before it left:
//   {"filter": CONDITION}  keeps the records the condition holds for. A condition is
//       {"field": F, "op": OP, "value": V} with OP one of == != < <= > >= in contains exists,
//       or {"and": [CONDITION...]}, {"or": [CONDITION...]}, {"not": CONDITION};
//   {"aggregate": {"group_by": F or [F...], "metrics": [{"fn": count|sum|mean|min|max,
//       "field": F, "as": NAME}...]}}  leaves one record per group (in order of first appearance);
//   {"analyze": {"fields": [F...], "max_distinct": N}}  describes each field and leaves the
//       records as they were.
// Pure functions over nlohmann::json; bad input is an ApiError 400 naming the step and field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace hayate::server::data {

using json = nlohmann::json;

struct Limits {
  int64_t max_records = 10000;
  int64_t max_fields = 256;
  int64_t max_steps = 32;
  int64_t max_distinct = 1000;  // the most an analyze step may ask to list per field
};

// Quantile q in [0, 1] of sorted values by linear interpolation between closest ranks (the
// "type 7" definition, numpy's default): h = (n - 1) q, x[floor h] + (h - floor h) (x[floor h + 1]
// - x[floor h]). Values must not be empty.
double quantile(const std::vector<double>& sorted, double q);

// The pipeline's result: {"records": [...] (the records after the last step), "steps": [{"op",
// "records_in", "records_out", and for analyze "fields": {...}}...]}. `records` must be an array
// of objects, `steps` an array of one-key objects.
json process(const json& records, const json& steps, const Limits& limits);

// Each field of the records (all top-level keys, or `fields`): type (number, string, boolean,
// object, array, or mixed), count (records where it is present and not null), missing, distinct
// (the most frequent values with their counts, at most max_distinct; distinct_count all of them),
// and for numbers mean, min, max and quantiles p25 p50 p75 p95 (over the numeric values).
json analyze(const std::vector<json>& records, const std::vector<std::string>& fields, int64_t max_distinct);

// Whether a checked condition (process validates them) holds for a record.
bool matches(const json& condition, const json& record);

}  // namespace hayate::server::data
