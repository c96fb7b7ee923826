// The report formats of `hayate bench model` on hand-made results, and the statistics behind them.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/model_bench.h"
#include "bench/stats.h"

namespace hayate::bench {
namespace {

SystemInfo test_system() {
  SystemInfo s;
  s.cpu_model = "Test CPU, 3 GHz";  // a comma, so CSV must quote it
  s.cpu_features = "avx2 fma";
  s.n_cpus = 2;
  s.load_average = {1.5, 1.25, 1.0};
  s.timestamp = "2024-01-02T03:04:05Z";
  return s;
}

BenchResult result(const std::string& test, std::vector<double> ts) {
  BenchResult r;
  r.model_file = "tiny.gguf";
  r.model_path = "/models/tiny.gguf";
  r.model_name = "tiny \"quoted\" model";
  r.arch = "llama";
  r.file_type = "Q8_0";
  r.model_size_bytes = 3ull << 30;
  r.n_params = 1100000000;
  r.backend = "cpu";
  r.device = "Test CPU, 3 GHz";
  r.n_threads = 2;
  r.test = test;
  r.n_prompt = test.rfind("pp", 0) == 0 ? 512 : 0;
  r.n_gen = test.rfind("tg", 0) == 0 ? 128 : 0;
  r.n_batch = 256;
  for (double v : ts) r.samples_seconds.push_back(1.0 / v);
  r.samples_ts = ts;
  r.ts = summarize(ts);
  r.rss_peak_bytes = 512ull << 20;
  r.rss_bytes = 256ull << 20;
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(BenchStats, MeanSampleStddevMedianOfKnownValues) {
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  const Stats s = summarize(v);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(32.0 / 7.0));  // squared deviations sum to 32, n - 1 = 7
  EXPECT_DOUBLE_EQ(s.median, 4.5);

  const std::vector<double> odd = {10, 1, 7};
  EXPECT_DOUBLE_EQ(summarize(odd).median, 7.0);
  EXPECT_DOUBLE_EQ(summarize(odd).mean, 6.0);
  EXPECT_DOUBLE_EQ(summarize(odd).stddev, std::sqrt(42.0 / 2.0));

  const std::vector<double> one = {3.5};
  EXPECT_DOUBLE_EQ(summarize(one).stddev, 0.0);
  EXPECT_DOUBLE_EQ(summarize(one).median, 3.5);
  EXPECT_DOUBLE_EQ(summarize(std::vector<double>{}).mean, 0.0);
}

TEST(BenchFormat, TableHasSystemLinesHeaderAndOneRowPerResult) {
  const std::vector<BenchResult> results = {result("pp512", {100, 110, 120}), result("tg128", {10, 10, 10})};
  const std::string table = format_table(test_system(), results);
  EXPECT_NE(table.find("Test CPU, 3 GHz, 2 hardware threads"), std::string::npos) << table;
  EXPECT_NE(table.find("CPU features: avx2 fma"), std::string::npos);
  EXPECT_NE(table.find("load average before the run: 1.50, 1.25, 1.00"), std::string::npos);

  std::vector<std::string> rows;
  for (const std::string& line : lines_of(table))
    if (line.rfind("|", 0) == 0) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u) << table;  // header, rule, two results
  for (const char* column : {"model", "name", "arch", "type", "size", "params", "backend", "threads", "test", "t/s",
                             "median t/s", "peak RSS", "RSS after"})
    EXPECT_NE(rows[0].find(std::string(" ") + column + " "), std::string::npos) << column;
  EXPECT_EQ(rows[0].find("GPU memory"), std::string::npos) << "no GPU column for CPU-only results";
  EXPECT_NE(rows[1].find("---:"), std::string::npos) << "numbers align right";
  for (const auto& row : rows) EXPECT_EQ(row.size(), rows[0].size()) << "columns are padded to one width";

  EXPECT_NE(rows[2].find("| tiny.gguf "), std::string::npos);
  EXPECT_NE(rows[2].find(" pp512 |"), std::string::npos);
  EXPECT_NE(rows[2].find(" 110.00 ± 10.00 |"), std::string::npos) << rows[2];
  EXPECT_NE(rows[2].find(" 3.00 GiB |"), std::string::npos);
  EXPECT_NE(rows[2].find(" 1.10 B |"), std::string::npos);
  EXPECT_NE(rows[2].find(" 512.00 MiB |"), std::string::npos);
  EXPECT_NE(rows[3].find(" 10.00 ± 0.00 |"), std::string::npos) << rows[3];
}

TEST(BenchFormat, TableShowsGpuMemoryOnlyWhenAResultHasIt) {
  BenchResult gpu = result("tg128", {50, 52});
  gpu.backend = "cuda";
  gpu.gpu_memory_bytes = 2ull << 30;
  const std::string table = format_table(test_system(), {result("pp512", {1, 2}), gpu});
  EXPECT_NE(table.find("GPU memory"), std::string::npos);
  EXPECT_NE(table.find(" 2.00 GiB |\n"), std::string::npos) << table;
}

TEST(BenchFormat, JsonParsesAndHasTheDocumentedFields) {
  BenchResult gpu = result("tg128", {10, 12, 14});
  gpu.gpu_memory_bytes = 1234;
  const auto j = nlohmann::json::parse(format_json(test_system(), {result("pp512", {100, 110, 120}), gpu}));
  EXPECT_EQ(j["system"]["cpu_model"], "Test CPU, 3 GHz");
  EXPECT_EQ(j["system"]["cpu_features"], "avx2 fma");
  EXPECT_EQ(j["system"]["n_cpus"], 2);
  EXPECT_EQ(j["system"]["load_average"], nlohmann::json({1.5, 1.25, 1.0}));
  EXPECT_EQ(j["system"]["timestamp"], "2024-01-02T03:04:05Z");
  ASSERT_EQ(j["results"].size(), 2u);

  const auto& pp = j["results"][0];
  for (const char* field : {"model_file",
                            "model_path",
                            "model_name",
                            "arch",
                            "file_type",
                            "model_size_bytes",
                            "n_params",
                            "backend",
                            "device",
                            "n_threads",
                            "test",
                            "n_prompt",
                            "n_gen",
                            "n_batch",
                            "repetitions",
                            "samples_seconds",
                            "samples_ts",
                            "avg_ts",
                            "stddev_ts",
                            "median_ts",
                            "rss_peak_bytes",
                            "rss_bytes",
                            "gpu_memory_bytes"})
    EXPECT_TRUE(pp.contains(field)) << field;
  EXPECT_EQ(pp.size(), 23u) << "a new field belongs in the comment of format_json";
  EXPECT_EQ(pp["model_name"], "tiny \"quoted\" model");
  EXPECT_EQ(pp["test"], "pp512");
  EXPECT_EQ(pp["n_prompt"], 512);
  EXPECT_EQ(pp["n_gen"], 0);
  EXPECT_EQ(pp["repetitions"], 3);
  EXPECT_EQ(pp["model_size_bytes"], 3ull << 30);
  EXPECT_DOUBLE_EQ(pp["avg_ts"].get<double>(), 110.0);
  EXPECT_DOUBLE_EQ(pp["stddev_ts"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(pp["median_ts"].get<double>(), 110.0);
  EXPECT_TRUE(pp["gpu_memory_bytes"].is_null());
  EXPECT_EQ(j["results"][1]["gpu_memory_bytes"], 1234);
  EXPECT_DOUBLE_EQ(j["results"][1]["median_ts"].get<double>(), 12.0);
}

TEST(BenchFormat, CsvHasTheJsonFieldsAsHeaderAndQuotesWhereNeeded) {
  const std::string csv = format_csv(test_system(), {result("pp512", {100, 110, 120}), result("tg128", {8})});
  const auto lines = lines_of(csv);
  ASSERT_EQ(lines.size(), 3u) << csv;
  EXPECT_EQ(lines[0],
            "model_file,model_path,model_name,arch,file_type,model_size_bytes,n_params,backend,device,n_threads,test,"
            "n_prompt,n_gen,n_batch,repetitions,samples_seconds,samples_ts,avg_ts,stddev_ts,median_ts,rss_peak_bytes,"
            "rss_bytes,gpu_memory_bytes,cpu_model,cpu_features");
  EXPECT_EQ(lines[1].rfind("tiny.gguf,/models/tiny.gguf,\"tiny \"\"quoted\"\" model\",llama,Q8_0,3221225472,"
                           "1100000000,cpu,\"Test CPU, 3 GHz\",2,pp512,512,0,256,3,",
                           0),
            0u)
      << lines[1];
  EXPECT_NE(lines[1].find(",100 110 120,110,10,110,536870912,268435456,,\"Test CPU, 3 GHz\",avx2 fma"),
            std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find(",tg128,0,128,256,1,0.125,8,8,0,8,"), std::string::npos) << lines[2];
}

}  // namespace
}  // namespace hayate::bench
