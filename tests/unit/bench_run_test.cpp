// run_model_bench in process on a tiny random-weight model: the rows it makes and what it refuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "bench/model_bench.h"
#include "core/error.h"
#include "model/synth.h"
#include "support/test_util.h"

namespace hayate::bench {
namespace {

std::string tiny_model(const std::string& name, const std::string& file_type) {
  SynthOptions o;
  o.n_embd = 64;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 128;
  o.n_ctx = 64;
  o.file_type = file_type;
  o.name = "bench tiny";
  const std::string path = test::temp_path(name);
  std::ostringstream log;
  synth_model(o, path, log);
  return path;
}

TEST(BenchRun, OneRowPerModelThreadsAndTest) {
  BenchConfig c;
  c.models = {tiny_model("a.gguf", "f16"), tiny_model("b.gguf", "q8_0")};
  c.n_prompt = {8, 0, 5};
  c.n_gen = {4};
  c.threads = {1, 2, 1};
  c.repetitions = 2;
  c.n_batch = 4;  // pp8 takes two forward passes
  std::ostringstream progress;
  const auto results = run_model_bench(c, progress);
  ASSERT_EQ(results.size(), 2u * 2u * 3u) << "models x distinct thread counts x (pp8, pp5, tg4)";

  const std::string file_a = std::filesystem::path(c.models[0]).filename().string();
  EXPECT_EQ(results[0].model_file, file_a);
  EXPECT_EQ(results[0].model_path, c.models[0]);
  EXPECT_EQ(results[0].model_name, "bench tiny");
  EXPECT_EQ(results[0].arch, "llama");
  EXPECT_EQ(results[0].file_type, "F16");
  EXPECT_EQ(results[6].file_type, "Q8_0");
  EXPECT_GT(results[0].model_size_bytes, results[6].model_size_bytes);
  EXPECT_EQ(results[0].n_params, results[6].n_params);
  EXPECT_GT(results[0].n_params, 2u * 64u * 260u) << "at least the embedding and output matrices";

  const std::vector<std::string> tests = {"pp8", "pp5", "tg4"};
  for (size_t i = 0; i < results.size(); ++i) {
    const BenchResult& r = results[i];
    EXPECT_EQ(r.test, tests[i % 3]);
    EXPECT_EQ(r.n_threads, i % 6 < 3 ? 1 : 2);
    EXPECT_EQ(r.backend, "cpu");
    EXPECT_FALSE(r.device.empty());
    EXPECT_EQ(r.n_batch, 4);
    ASSERT_EQ(r.samples_ts.size(), 2u);
    ASSERT_EQ(r.samples_seconds.size(), 2u);
    const int32_t n = r.n_prompt + r.n_gen;
    EXPECT_DOUBLE_EQ(r.samples_ts[0], n / r.samples_seconds[0]);
    EXPECT_GT(r.ts.mean, 0);
    EXPECT_GE(r.rss_peak_bytes, r.rss_bytes);
    EXPECT_GT(r.rss_bytes, 0u);
    EXPECT_FALSE(r.gpu_memory_bytes.has_value());
  }
  EXPECT_EQ(results[2].n_prompt, 0);
  EXPECT_EQ(results[2].n_gen, 4);
  EXPECT_NE(progress.str().find(file_a + " cpu t=2 tg4: "), std::string::npos) << progress.str();
}

TEST(BenchRun, ReferenceBackendRunsOnOneThread) {
  BenchConfig c;
  c.models = {tiny_model("ref.gguf", "f32")};
  c.n_prompt = {4};
  c.n_gen = {2};
  c.threads = {1, 2};
  c.repetitions = 1;
  c.backend = "reference";
  std::ostringstream progress;
  const auto results = run_model_bench(c, progress);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].backend, "reference");
  EXPECT_EQ(results[0].n_threads, 1);
}

TEST(BenchRun, RefusesWhatCannotBeMeasured) {
  std::ostringstream progress;
  auto expect_bad = [&](const BenchConfig& c, const std::string& words) {
    try {
      run_model_bench(c, progress);
      ADD_FAILURE() << "expected an error about " << words;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  BenchConfig none;
  none.models.clear();
  expect_bad(none, "no model given");

  BenchConfig c;
  c.models = {tiny_model("ctx.gguf", "f16")};
  c.n_prompt = {65};
  expect_bad(c, "pp65 needs 65 positions, over the model's trained context of 64");
  c.n_prompt = {0};
  c.n_gen = {0};
  expect_bad(c, "nothing to measure");
  c.n_gen = {2};
  c.repetitions = 0;
  expect_bad(c, "repetitions");

  BenchConfig missing;
  missing.models = {test::temp_path("does-not-exist.gguf")};
  expect_bad(missing, "does-not-exist.gguf");
}

}  // namespace
}  // namespace hayate::bench
