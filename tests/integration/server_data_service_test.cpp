// POST /v1/data/process on the real server and through the gateway: a pipeline over 100 records
// (values whose statistics are known), the model-written summary, and the limits' 400s.
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "gateway_harness.h"

namespace hayate::test {
namespace {

using json = nlohmann::json;

// Records i = 1..100: value i, group "even"/"odd", and "note" on every tenth.
json hundred_records() {
  json records = json::array();
  for (int i = 1; i <= 100; ++i) {
    json r = {{"id", i}, {"value", i}, {"group", i % 2 ? "odd" : "even"}};
    if (i % 10 == 0) r["note"] = "tenth";
    records.push_back(r);
  }
  return records;
}

json pipeline() {
  return json::parse(R"([
    {"analyze": {"fields": ["value", "note"]}},
    {"filter": {"or": [{"field": "value", "op": "<=", "value": 10}, {"field": "note", "op": "exists", "value": true}]}},
    {"aggregate": {"group_by": "group", "metrics": [{"fn": "count"}, {"fn": "mean", "field": "value"}]}}])");
}

void expect_known_answer(const json& out) {
  EXPECT_EQ(out["object"], "data.process");
  const json& value = out["operations"][0]["fields"]["value"];
  EXPECT_DOUBLE_EQ(value["mean"].get<double>(), 50.5);
  EXPECT_DOUBLE_EQ(value["quantiles"]["p50"].get<double>(), 50.5);
  EXPECT_DOUBLE_EQ(value["quantiles"]["p95"].get<double>(), 95.05);  // h = 99 * 0.95 = 94.05
  EXPECT_EQ(value["distinct_count"], 100);
  EXPECT_EQ(value["distinct"].size(), 20u);
  EXPECT_EQ(out["operations"][0]["fields"]["note"]["missing"], 90);
  EXPECT_EQ(out["operations"][1]["records_out"], 19);  // 1..10 and 20, 30, ..., 100
  // odd: 1 3 5 7 9 (mean 5); even: 2 4 6 8 10 20 30 ... 100 (14 values, sum 570)
  EXPECT_EQ(out["records"], json::parse(R"([{"group": "odd", "count": 5, "mean_value": 5.0},
                                            {"group": "even", "count": 14, "mean_value": 40.714285714285715}])"));
  EXPECT_EQ(out["count"], 2);
}

TEST(DataService, PipelineOverHundredRecordsAndASummary) {
  ServerProcess server({});
  const HttpResponse r = http_post(server.port(), "/v1/data/process",
                                   json{{"records", hundred_records()}, {"operations", pipeline()}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json out = json::parse(r.body);
  expect_known_answer(out);
  EXPECT_FALSE(out.contains("summary"));

  const HttpResponse s = http_post(server.port(), "/v1/data/process",
                                   json{{"records", hundred_records()},
                                        {"operations", pipeline()},
                                        {"summarize", true},
                                        {"max_tokens", 12},
                                        {"return_records", false}}
                                       .dump());
  ASSERT_EQ(s.status, 200) << s.body;
  const json summed = json::parse(s.body);
  ASSERT_TRUE(summed["summary"].is_string()) << s.body;
  EXPECT_GT(summed["usage"]["completion_tokens"].get<int>(), 0);
  EXPECT_LE(summed["usage"]["completion_tokens"].get<int>(), 12);
  EXPECT_GT(summed["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_FALSE(summed.contains("records"));
  EXPECT_EQ(summed["count"], 2);
  EXPECT_TRUE(summed["timings"].contains("summary_ms"));
}

TEST(DataService, LimitsAndBadRequestsSayWhatWasWrong) {
  ServerProcess server({"--data-max-records", "50", "--data-max-fields", "3", "--data-max-body-bytes", "20000"});
  const int p = server.port();
  auto refused = [&](const json& body) {
    const HttpResponse r = http_post(p, "/v1/data/process", body.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    return json::parse(r.body)["error"]["message"].get<std::string>();
  };
  json records = json::array();
  for (int i = 0; i < 60; ++i) records.push_back({{"v", i}});
  EXPECT_NE(refused({{"records", records}}).find("data_max_records"), std::string::npos);
  EXPECT_NE(refused(json::parse(R"({"records": [{"a": 1, "b": 2, "c": 3, "d": 4}]})")).find("data_max_fields"),
            std::string::npos);
  EXPECT_NE(refused({{"records", json::array({{{"text", std::string(30000, 'x')}}})}}).find("data_max_body_bytes"),
            std::string::npos);
  EXPECT_NE(refused({{"records", json::array()}, {"operation", json::array()}}).find("Unknown field 'operation'"),
            std::string::npos);
  EXPECT_NE(refused({{"operations", json::array()}}).find("'records' is missing"), std::string::npos);
  EXPECT_NE(refused(json::parse(R"({"records": [], "operations": [{"filter": {"field": "v"}}]})"))
                .find("operations[0].filter: 'op' must be one of"),
            std::string::npos);
  EXPECT_NE(refused({{"records", json::array()}, {"summarize", "yes"}}).find("'summarize' must be true or false"),
            std::string::npos);
}

TEST(DataService, ReachableThroughTheGateway) {
  ServerProcess server({});
  const std::string id = model_id(server.port());
  auto gw = start_gateway(write_config("gw-data.toml", upstream("s", server.port(), "m", id)));
  const std::string body = json{{"records", hundred_records()}, {"operations", pipeline()}}.dump();
  const HttpResponse r = http_post(gw->port(), "/v1/data/process", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("x-hayate-upstream"), "s");
  expect_known_answer(json::parse(r.body));
  // The gateway counts a request after its answer is written: wait for the count, bounded.
  const std::string key = "hayate_gateway_requests_total{route=\"/v1/data/process\",status=\"200\"}";
  auto m = gw->metrics();
  for (int i = 0; i < 500 && !m.count(key); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    m = gw->metrics();
  }
  ASSERT_TRUE(m.count(key)) << "no " << key << " in the gateway's metrics";
  EXPECT_EQ(m.at(key), 1);
}

}  // namespace
}  // namespace hayate::test
