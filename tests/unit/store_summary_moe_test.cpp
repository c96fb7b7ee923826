// `hayate show` and `hayate list` say whether a model is a mixture of experts (store/summary.h).
#include <gtest/gtest.h>

#include <sstream>

#include "model/synth.h"
#include "store/summary.h"
#include "support/test_util.h"

namespace hayate::store {
namespace {

TEST(StoreSummary, CountsExpertsOfAMixtureOfExperts) {
  SynthOptions o;
  o.arch = "qwen3moe";
  o.n_embd = 64;
  o.n_layer = 1;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 96;
  o.n_expert = 4;
  o.n_expert_used = 2;
  std::ostringstream log;
  const std::string moe = test::temp_path("summary-moe.gguf");
  synth_model(o, moe, log);
  const ModelSummary s = summarize(moe);
  EXPECT_EQ(s.architecture, "qwen3moe");
  EXPECT_EQ(s.expert_count, 4);
  EXPECT_EQ(s.expert_used_count, 2);

  o.arch = "qwen3";
  o.n_expert = 0;
  const std::string dense = test::temp_path("summary-dense.gguf");
  synth_model(o, dense, log);
  EXPECT_EQ(summarize(dense).expert_count, 0);
}

}  // namespace
}  // namespace hayate::store
