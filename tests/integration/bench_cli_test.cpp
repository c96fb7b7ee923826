// Drives the real `hayate bench model` on tiny synthetic models: its JSON/CSV/table reports and errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_util.h"

namespace hayate {
namespace {

const std::string kBin = HAYATE_BIN;

std::string synth(const std::string& name, const std::string& type) {
  const std::string path = test::temp_path(name);
  const auto r = test::run_command(kBin + " synth -o " + path +
                                   " --n-embd 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 --n-ctx 256 --type " +
                                   type + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

TEST(BenchCli, JsonRowsForEveryModelAndTest) {
  const std::string f16 = synth("tiny-f16.gguf", "f16");
  const std::string q8 = synth("tiny-q8.gguf", "q8_0");
  const auto r =
      test::run_command(kBin + " bench model -m " + f16 + " -m " + q8 + " -p 16 -n 8 -r 2 -t 1,2 -o json 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_FALSE(j["system"]["cpu_features"].is_null());
  EXPECT_GT(j["system"]["n_cpus"].get<int>(), 0);

  const auto& rows = j["results"];
  ASSERT_EQ(rows.size(), 2u * 2u * 2u) << "2 models x 2 thread counts x (pp16, tg8)";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    EXPECT_EQ(row["model_file"], std::filesystem::path(i < 4 ? f16 : q8).filename().string());
    EXPECT_EQ(row["model_path"], i < 4 ? f16 : q8);
    EXPECT_EQ(row["file_type"], i < 4 ? "F16" : "Q8_0");
    EXPECT_EQ(row["arch"], "llama");
    EXPECT_EQ(row["n_threads"], i % 4 < 2 ? 1 : 2);
    EXPECT_EQ(row["test"], i % 2 == 0 ? "pp16" : "tg8");
    EXPECT_EQ(row["backend"], "cpu");
    EXPECT_EQ(row["repetitions"], 2);
    EXPECT_EQ(row["samples_ts"].size(), 2u);
    EXPECT_GT(row["avg_ts"].get<double>(), 0);
    EXPECT_GT(row["median_ts"].get<double>(), 0);
    EXPECT_GE(row["stddev_ts"].get<double>(), 0);
    EXPECT_GT(row["model_size_bytes"].get<uint64_t>(), 0u);
    EXPECT_GT(row["n_params"].get<uint64_t>(), 0u);
    EXPECT_GT(row["rss_bytes"].get<uint64_t>(), 0u);
    EXPECT_GE(row["rss_peak_bytes"].get<uint64_t>(), row["rss_bytes"].get<uint64_t>());
    EXPECT_TRUE(row["gpu_memory_bytes"].is_null());
  }
  EXPECT_GT(rows[0]["model_size_bytes"].get<uint64_t>(), rows[4]["model_size_bytes"].get<uint64_t>());
}

TEST(BenchCli, TableByDefaultAndCsvToAFile) {
  const std::string model = synth("tiny.gguf", "q8_0");
  const auto table = test::run_command(kBin + " bench model -m " + model + " -p 8 -n 4 -r 1 -t 1 2>/dev/null");
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_NE(table.output.find("| model "), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(" pp8 |"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find(" tg4 |"), std::string::npos) << table.output;

  const std::string csv_path = test::temp_path("bench.csv");
  const auto csv = test::run_command(kBin + " bench model -m " + model + " -p 8 -n 0 -r 1 -t 1 -o csv --output " +
                                     csv_path + " 2>/dev/null");
  ASSERT_EQ(csv.exit_code, 0);
  EXPECT_EQ(csv.output, "") << "the report goes to the file, not stdout";
  std::ifstream f(csv_path);
  std::string header, row, extra;
  std::getline(f, header);
  std::getline(f, row);
  EXPECT_EQ(header.rfind("model_file,model_path,model_name,", 0), 0u) << header;
  EXPECT_EQ(row.rfind(std::filesystem::path(model).filename().string() + "," + model + ",", 0), 0u) << row;
  EXPECT_FALSE(std::getline(f, extra)) << "one test, one row";
}

TEST(BenchCli, MissingModelIsAClearErrorAndNonZeroExit) {
  const std::string missing = test::temp_path("no-such-model.gguf");
  const auto r = test::run_command(kBin + " bench model -m " + missing + " -p 16 -n 8 -r 2 -o json 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("hayate: error:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(missing), std::string::npos) << "the message names the file: " << r.output;
}

TEST(BenchCli, TestLongerThanTheContextIsRefused) {
  const std::string model = synth("short.gguf", "f16");
  const auto r = test::run_command(kBin + " bench model -m " + model + " -p 512 -n 8 -r 1 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("pp512 needs 512 positions"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hayate
