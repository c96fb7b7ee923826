// The portable path: with the scalar kernels forced (as on a CPU without AVX2), the fast CPU
// backend still agrees with the reference backend, for float and quantized weights.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "quant/quant.h"
#include "support/test_util.h"

namespace hayate {
namespace {

// Before anything builds the kernel table (synthesising a model quantizes through it).
const bool kForced = [] {
  quant::force_scalar_kernels();
  return true;
}();

std::vector<float> logits(const Model& m, Backend& be, const std::vector<int32_t>& tokens) {
  auto kv = be.make_kv_cache(m.hp, 8, 16);
  Batch b;
  b.sequences.push_back({{0, 1, 2, 3, 4, 5, 6, 7}});
  for (size_t i = 0; i < tokens.size(); ++i) b.add(tokens[i], static_cast<int32_t>(i), 0, true);
  return forward(m, b, *kv, be);
}

TEST(ScalarKernels, ForcedScalarCpuBackendMatchesReference) {
  ASSERT_TRUE(kForced);
  ASSERT_TRUE(quant::scalar_kernels_forced());
  for (const std::string type : {"f16", "q8_0", "q4_k_m"}) {
    ASSERT_EQ(quant::traits(GgmlType::Q8_0)->tile_dot, quant::tile_kernels(GgmlType::Q8_0).front().fn);
    ASSERT_EQ(quant::traits(GgmlType::Q4_K)->vec_dot, quant::dot_kernels(GgmlType::Q4_K).front().fn);
    SynthOptions o;
    o.n_embd = 256;
    o.n_layer = 2;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.n_ff = 512;
    o.n_ctx = 128;
    o.file_type = type;
    o.seed = 3;
    const std::string path = test::temp_path("scalar-" + type + ".gguf");
    std::ostringstream log;
    synth_model(o, path, log);
    auto m = Model::load(path);
    std::vector<int32_t> tokens;
    for (int i = 0; i < 12; ++i) tokens.push_back((i * 31 + 5) % m->hp.n_vocab);
    auto ref = make_backend("reference", 1);
    auto cpu = make_backend("cpu", 2);
    const auto a = logits(*m, *ref, tokens), b = logits(*m, *cpu, tokens);
    ASSERT_EQ(a.size(), b.size());
    const double tol = type == "f16" ? 1e-4 : 6e-2;  // as backend_forward_test
    EXPECT_LT(test::max_relative_error(b.data(), a.data(), a.size()), tol) << type;
  }
}

}  // namespace
}  // namespace hayate
