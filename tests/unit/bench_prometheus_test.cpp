#include <gtest/gtest.h>

#include <cmath>

#include "bench/prometheus_text.h"
#include "core/error.h"

namespace hayate::bench {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_prometheus_text(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

}  // namespace

TEST(BenchPrometheus, ReadsHayateMetrics) {
  const std::string text =
      "# HELP hayate_requests_total HTTP requests answered, by route and status\n"
      "# TYPE hayate_requests_total counter\n"
      "hayate_requests_total{route=\"/v1/completions\",status=\"200\"} 41\n"
      "hayate_requests_total{route=\"/v1/completions\",status=\"429\"} 2\n"
      "hayate_requests_total{route=\"/metrics\",status=\"200\"} 5\n"
      "hayate_generation_tokens_total 1234\n"
      "hayate_request_duration_seconds_bucket{le=\"+Inf\"} 48\n"
      "hayate_prefix_cache_hit_ratio NaN\n"
      "hayate_queue_depth 0 1700000000000\n"
      "other_metric{path=\"a \\\"quoted\\\" \\\\ name\\n\"} -1.5e3\r\n"
      "\n";
  const std::vector<MetricSample> s = parse_prometheus_text(text);
  ASSERT_EQ(s.size(), 8u);
  EXPECT_EQ(s[0].name, "hayate_requests_total");
  EXPECT_EQ(s[0].labels.at("route"), "/v1/completions");
  EXPECT_EQ(s[0].labels.at("status"), "200");
  EXPECT_DOUBLE_EQ(s[0].value, 41);
  EXPECT_EQ(s[4].labels.at("le"), "+Inf");
  EXPECT_TRUE(std::isnan(s[5].value));
  EXPECT_DOUBLE_EQ(s[6].value, 0);
  EXPECT_EQ(s[7].labels.at("path"), "a \"quoted\" \\ name\n");
  EXPECT_DOUBLE_EQ(s[7].value, -1500);

  EXPECT_DOUBLE_EQ(sum_samples(s, "hayate_requests_total"), 48);
  EXPECT_DOUBLE_EQ(sum_samples(s, "hayate_requests_total", {{"route", "/v1/completions"}}), 43);
  EXPECT_DOUBLE_EQ(sum_samples(s, "hayate_requests_total", {{"route", "/v1/completions"}, {"status", "429"}}), 2);
  EXPECT_DOUBLE_EQ(sum_samples(s, "hayate_requests_total", {{"route", "/nowhere"}}), 0);
  EXPECT_DOUBLE_EQ(sum_samples(s, "absent_metric"), 0);
  EXPECT_TRUE(has_hayate_metrics(s));
  EXPECT_FALSE(has_hayate_metrics(parse_prometheus_text("vllm:num_requests_running 3\n")));
  EXPECT_TRUE(parse_prometheus_text("").empty());
}

TEST(BenchPrometheus, BadLinesAreNamed) {
  EXPECT_EQ(error_of("ok 1\nbroken\n"), "Prometheus metrics text, line 2: expected a space and a value after broken");
  EXPECT_NE(error_of("# c\nm{route=\"/x\"} abc\n").find("line 2: \"abc\" is not a number"), std::string::npos);
  EXPECT_NE(error_of("m{route} 1\n").find("line 1: expected '=' after label name \"route\""), std::string::npos);
  EXPECT_NE(error_of("m{route=x} 1\n").find("must be quoted"), std::string::npos);
  EXPECT_NE(error_of("m{route=\"x} 1\n").find("is not closed"), std::string::npos);
  EXPECT_NE(error_of("9m 1\n").find("must start with a letter"), std::string::npos);
  EXPECT_NE(error_of("m 1 12.5\n").find("timestamp must be an integer"), std::string::npos);
  EXPECT_NE(error_of("m{=\"x\"} 1\n").find("expected a label name"), std::string::npos);
}

}  // namespace hayate::bench
