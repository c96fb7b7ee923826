// The data service's operations (server/data.h) on five records computed by hand. Quantiles are
// numpy's default ("type 7"): h = (n - 1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
#include <gtest/gtest.h>

#include "api/openai.h"
#include "server/data.h"

namespace hayate::server::data {
namespace {

const json kRecords = json::parse(R"([
  {"city": "Osaka", "age": 30, "score": 1.5, "tag": "a"},
  {"city": "Tokyo", "age": 20, "score": 2.5},
  {"city": "Osaka", "age": 40, "tag": "b"},
  {"city": "Kyoto", "age": null, "score": 4.0, "tag": "a"},
  {"city": "Tokyo", "age": 50, "score": "n/a"}
])");

json run(const json& steps, const Limits& limits = {}) { return process(kRecords, steps, limits); }

// The indices (into kRecords) of the records a filter keeps.
std::vector<size_t> kept(const json& condition) {
  const json out = run(json::array({{{"filter", condition}}}));
  std::vector<size_t> idx;
  for (const json& r : out["records"])
    for (size_t i = 0; i < kRecords.size(); ++i)
      if (kRecords[i] == r) idx.push_back(i);
  return idx;
}

// The 400's message, or "" when there was none.
std::string refusal(const json& records, const json& steps, const Limits& limits = {}) {
  try {
    process(records, steps, limits);
  } catch (const api::ApiError& e) {
    EXPECT_EQ(e.status, 400);
    return e.what();
  }
  return "";
}

TEST(DataQuantile, LinearBetweenClosestRanks) {
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5}, 0.95), 4.8);  // h = 3.8
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5}, 0.5), 3);
  EXPECT_DOUBLE_EQ(quantile({20, 30, 40, 50}, 0.25), 27.5);  // h = 0.75
  EXPECT_DOUBLE_EQ(quantile({7}, 0.95), 7);
  EXPECT_DOUBLE_EQ(quantile({1, 9}, 1.0), 9);
}

TEST(DataAnalyze, NumbersStringsMixedAndMissing) {
  const json a = run(json::array({{{"analyze", {{"max_distinct", 2}}}}}))["operations"][0]["fields"];
  const json& age = a["age"];
  EXPECT_EQ(age["type"], "number");
  EXPECT_EQ(age["count"], 4);
  EXPECT_EQ(age["missing"], 1);  // null counts as missing
  EXPECT_DOUBLE_EQ(age["mean"].get<double>(), 35);
  EXPECT_DOUBLE_EQ(age["min"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(age["max"].get<double>(), 50);
  EXPECT_DOUBLE_EQ(age["quantiles"]["p25"].get<double>(), 27.5);
  EXPECT_DOUBLE_EQ(age["quantiles"]["p50"].get<double>(), 35);
  EXPECT_DOUBLE_EQ(age["quantiles"]["p75"].get<double>(), 42.5);
  EXPECT_DOUBLE_EQ(age["quantiles"]["p95"].get<double>(), 48.5);
  EXPECT_EQ(age["distinct_count"], 4);
  EXPECT_EQ(age["distinct"], json::parse(R"([{"value": 20, "count": 1}, {"value": 30, "count": 1}])"));
  EXPECT_TRUE(age["distinct_truncated"].get<bool>());

  const json& score = a["score"];  // 1.5, 2.5, 4.0 and a string
  EXPECT_EQ(score["type"], "mixed");
  EXPECT_EQ(score["types"], json::parse(R"({"number": 3, "string": 1})"));
  EXPECT_EQ(score["count"], 4);
  EXPECT_DOUBLE_EQ(score["mean"].get<double>(), 8.0 / 3);
  EXPECT_DOUBLE_EQ(score["quantiles"]["p25"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(score["quantiles"]["p50"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(score["quantiles"]["p75"].get<double>(), 3.25);
  EXPECT_DOUBLE_EQ(score["quantiles"]["p95"].get<double>(), 3.85);

  const json& city = a["city"];
  EXPECT_EQ(city["type"], "string");
  EXPECT_EQ(city["count"], 5);
  EXPECT_FALSE(city.contains("mean"));
  EXPECT_EQ(city["distinct_count"], 3);  // most frequent first, ties by the value's JSON text
  EXPECT_EQ(city["distinct"], json::parse(R"([{"value": "Osaka", "count": 2}, {"value": "Tokyo", "count": 2}])"));
  EXPECT_EQ(a["tag"]["missing"], 2);

  const json only = run(json::array({{{"analyze", {{"fields", {"nothere"}}}}}}))["operations"][0]["fields"];
  EXPECT_EQ(only.size(), 1u);
  EXPECT_TRUE(only["nothere"]["type"].is_null());
  EXPECT_EQ(only["nothere"]["missing"], 5);
}

TEST(DataFilter, ComparisonsAndCombinators) {
  EXPECT_EQ(kept(json::parse(R"({"and": [{"field": "city", "op": "in", "value": ["Osaka", "Tokyo"]},
                                          {"field": "age", "op": ">=", "value": 30}]})")),
            (std::vector<size_t>{0, 2, 4}));
  EXPECT_EQ(kept(json::parse(R"({"or": [{"field": "tag", "op": "exists", "value": false},
                                         {"field": "city", "op": "==", "value": "Kyoto"}]})")),
            (std::vector<size_t>{1, 3, 4}));
  // A string is neither below nor above a number: "n/a" < 3 is false, so not(...) keeps it.
  EXPECT_EQ(kept(json::parse(R"({"not": {"field": "score", "op": "<", "value": 3}})")), (std::vector<size_t>{2, 3, 4}));
  EXPECT_EQ(kept(json::parse(R"({"field": "tag", "op": "!=", "value": "a"})")), (std::vector<size_t>{1, 2, 4}));
  EXPECT_EQ(kept(json::parse(R"({"field": "city", "op": "contains", "value": "ky"})")), (std::vector<size_t>{1, 4}));
  EXPECT_EQ(kept(json::parse(R"({"field": "age", "op": "==", "value": 30.0})")), (std::vector<size_t>{0}));
  EXPECT_EQ(kept(json::parse(R"({"field": "city", "op": "<", "value": "P"})")), (std::vector<size_t>{0, 2, 3}));
}

TEST(DataAggregate, GroupsInOrderOfFirstAppearance) {
  const json out = run(json::parse(R"([{"aggregate": {"group_by": "city", "metrics": [
      {"fn": "count"}, {"fn": "mean", "field": "age"}, {"fn": "sum", "field": "score"},
      {"fn": "max", "field": "age", "as": "oldest"}, {"fn": "count", "field": "tag"}]}}])"));
  const json want = json::parse(R"([
    {"city": "Osaka", "count": 2, "mean_age": 35.0, "sum_score": 1.5, "oldest": 40, "count_tag": 2},
    {"city": "Tokyo", "count": 2, "mean_age": 35.0, "sum_score": 2.5, "oldest": 50, "count_tag": 0},
    {"city": "Kyoto", "count": 1, "mean_age": null, "sum_score": 4.0, "oldest": null, "count_tag": 1}])");
  EXPECT_EQ(out["records"], want);
  const json all = run(json::parse(R"([{"aggregate": {"metrics": [{"fn": "min", "field": "score"}]}}])"));
  EXPECT_EQ(all["records"], json::parse(R"([{"min_score": 1.5}])"));
}

TEST(DataPipeline, StepsChainAndReport) {
  const json out = run(json::parse(R"([
    {"filter": {"field": "age", "op": "exists", "value": true}},
    {"aggregate": {"group_by": ["city"], "metrics": [{"fn": "sum", "field": "age", "as": "years"}]}},
    {"analyze": {}}])"));
  EXPECT_EQ(out["records"], json::parse(R"([{"city": "Osaka", "years": 70.0}, {"city": "Tokyo", "years": 70.0}])"));
  const json& ops = out["operations"];
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0]["op"], "filter");
  EXPECT_EQ(ops[0]["records_in"], 5);
  EXPECT_EQ(ops[0]["records_out"], 4);
  EXPECT_EQ(ops[1]["records_out"], 2);
  EXPECT_DOUBLE_EQ(ops[2]["fields"]["years"]["mean"].get<double>(), 70);
  EXPECT_EQ(ops[2]["fields"]["city"]["distinct_count"], 2);
  EXPECT_EQ(run(json::array())["records"], kRecords) << "no step: the records as they came";
}

TEST(DataLimits, BadInputIsA400NamingWhatWasWrong) {
  Limits small;
  small.max_records = 4;
  EXPECT_NE(refusal(kRecords, json::array(), small).find("at most 4 (data_max_records)"), std::string::npos);
  small = {};
  small.max_fields = 3;
  EXPECT_NE(refusal(kRecords, json::array(), small).find("4 distinct fields"), std::string::npos);
  EXPECT_NE(refusal(json::parse(R"([{"a": 1}, 7])"), json::array()).find("records[1] is not an object"),
            std::string::npos);
  EXPECT_NE(refusal(kRecords, json::parse(R"([{"analyze": {}}, {"filter": {"field": "a", "op": "~", "value": 1}}])"))
                .find("operations[1].filter: 'op' must be one of"),
            std::string::npos);
  EXPECT_NE(refusal(kRecords, json::parse(R"([{"filter": {"and": [{"field": "a", "op": "in", "value": 1}]}}])"))
                .find("operations[0].filter.and[0]: 'in' needs an array"),
            std::string::npos);
  EXPECT_NE(refusal(kRecords, json::parse(R"([{"sort": {}}])")).find("unknown operation 'sort'"), std::string::npos);
  EXPECT_NE(refusal(kRecords, json::parse(R"([{"aggregate": {"group_by": "city", "metrics": [{"fn": "count", "as":
              "city"}]}}])"))
                .find("'city' is already taken"),
            std::string::npos);
  EXPECT_NE(refusal(kRecords, json::parse(R"([{"aggregate": {"metrics": [{"fn": "median", "field": "age"}]}}])"))
                .find("'fn' must be one of"),
            std::string::npos);
  EXPECT_NE(refusal(json::object(), json::array()).find("'records' must be an array"), std::string::npos);
}

}  // namespace
}  // namespace hayate::server::data
