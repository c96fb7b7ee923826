// Quantized files against the F16 file of the same synthetic model, over 256 positions:
// top-1 agreement and KL divergence stay within stated bounds and are ordered by bits per weight.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "forward/forward.h"
#include "model/synth.h"
#include "support/test_util.h"

namespace hayate {
namespace {

struct Agreement {
  double top1 = 0;  // fraction of positions with the same argmax
  double mean_kl = 0;
};

std::vector<float> logits_of(const std::string& path, const std::vector<int32_t>& tokens) {
  auto m = Model::load(path);
  auto be = make_backend("cpu", 2);
  be->prepare(*m);  // as serve and run do (Q8_0 regrouped)
  auto kv = be->make_kv_cache(m->hp, static_cast<int32_t>(tokens.size() / 16 + 1), 16);
  Batch b;
  BatchSequence s;
  for (int32_t i = 0; i <= static_cast<int32_t>(tokens.size() / 16); ++i) s.block_table.push_back(i);
  b.sequences.push_back(s);
  for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0, true);
  return forward(*m, b, *kv, *be);
}

TEST(QuantAgreement, QuantizedFilesStayCloseToF16InOrder) {
  SynthOptions o;
  o.arch = "llama";
  o.n_embd = 512;
  o.n_layer = 4;
  o.n_head = 8;
  o.n_head_kv = 4;
  o.n_ff = 1024;
  o.n_ctx = 512;
  o.file_type = "f16";
  o.seed = 3;
  const std::string f16 = test::temp_path("f16.gguf");
  std::ostringstream log;
  synth_model(o, f16, log);

  std::vector<int32_t> tokens;
  for (int i = 0; i < 256; ++i) tokens.push_back((i * 131 + 7) % 260);
  const auto ref = logits_of(f16, tokens);
  const size_t v = ref.size() / tokens.size();

  std::map<std::string, Agreement> results;
  for (const std::string type : {"q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_s"}) {
    const std::string path = test::temp_path(type + ".gguf");
    quantize_model(f16, path, type, 2, log);
    const auto q = logits_of(path, tokens);
    Agreement a;
    for (size_t p = 0; p < tokens.size(); ++p) {
      a.top1 += test::argmax(ref.data() + p * v, v) == test::argmax(q.data() + p * v, v);
      a.mean_kl += test::kl_divergence(ref.data() + p * v, q.data() + p * v, v);
    }
    a.top1 /= static_cast<double>(tokens.size());
    a.mean_kl /= static_cast<double>(tokens.size());
    results[type] = a;
    std::printf("%-7s top-1 agreement %.4f  mean KL %.6f\n", type.c_str(), a.top1, a.mean_kl);
  }
  // Bounds measured on this random-weight model (whose logits have many near-ties, so top-1
  // agreement is a harsh measure here), with some margin: q8_0 0.96 / 6e-4, q6_k 0.86 / 4.5e-3,
  // q5_k_m 0.75 / 1.5e-2, q4_k_m 0.52 / 5.9e-2.
  EXPECT_GE(results["q8_0"].top1, 0.93);
  EXPECT_LT(results["q8_0"].mean_kl, 2e-3);
  EXPECT_GE(results["q6_k"].top1, 0.80);
  EXPECT_LT(results["q6_k"].mean_kl, 1e-2);
  EXPECT_GE(results["q5_k_m"].top1, 0.65);
  EXPECT_LT(results["q5_k_m"].mean_kl, 3e-2);
  EXPECT_GE(results["q4_k_m"].top1, 0.45);
  EXPECT_LT(results["q4_k_m"].mean_kl, 0.1);
  EXPECT_LT(results["q8_0"].mean_kl, results["q6_k"].mean_kl);
  EXPECT_LT(results["q6_k"].mean_kl, results["q5_k_m"].mean_kl);
  EXPECT_LT(results["q5_k_m"].mean_kl, results["q4_k_m"].mean_kl);
  EXPECT_LT(results["q4_k_m"].mean_kl, results["q3_k_s"].mean_kl);
}

}  // namespace
}  // namespace hayate
