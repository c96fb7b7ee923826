// Step graphs (backend/cuda/step_graph.h) against eager launches over a serving-like schedule:
// sequences join with prompts beside others' decode tokens, decode past the attention's split
// and block-table widths, and leave, so the batch size moves between shapes and comes back.
// Every step's logits and top logits must be bit-identical, and most steps must be replays.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "forward/forward.h"
#include "model/synth.h"
#include "support/test_util.h"
#ifdef HAYATE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_util.h"
#include "backend/cuda/step_graph.h"
#endif

namespace hayate {
namespace {

std::string make_model(const std::string& type) {
  const std::string path = test::temp_path("cuda-graphs-" + type + ".gguf");
  SynthOptions o;
  o.arch = "llama";
  o.n_embd = 256;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 512;
  o.n_ctx = 512;
  o.file_type = type;
  o.seed = 11;
  std::ostringstream log;
  synth_model(o, path, log);
  return path;
}

struct Seq {
  int join, prompt, decode;  // step it joins at, prompt tokens, decode steps after
};
// Joins and leaves over 170 steps; sequence 0 reaches position 170 (past 64-position attention
// chunks and 16-position blocks several times), the batch holds 1 to 4 sequences.
const std::vector<Seq> kSchedule = {{0, 5, 165}, {10, 3, 40}, {12, 9, 20}, {60, 2, 90}, {100, 4, 30}, {140, 1, 25}};
constexpr int kBlocks = 72, kBlockSize = 16, kBlocksPerSeq = 11;

struct StepOut {
  std::vector<float> logits;
  std::vector<TopLogits> tops;
};

std::vector<StepOut> run_schedule(const Model& m, Backend& be) {
  auto kv = be.make_kv_cache(m.hp, kBlocks, kBlockSize);
  std::vector<StepOut> out;
  for (int step = 0; step < 200; ++step) {
    Batch b;
    for (size_t s = 0; s < kSchedule.size(); ++s) {
      const Seq& q = kSchedule[s];
      if (step < q.join || step > q.join + q.decode) continue;
      const auto idx = static_cast<int32_t>(b.sequences.size());
      std::vector<int32_t> table;  // the sequences' blocks interleaved
      for (int i = 0; i < kBlocksPerSeq; ++i) table.push_back(static_cast<int32_t>(i * 6 + s));
      b.sequences.push_back({table});
      const int past = step == q.join ? 0 : q.prompt + (step - q.join - 1);
      const int n = step == q.join ? q.prompt : 1;
      for (int i = 0; i < n; ++i)
        b.add(static_cast<int32_t>((step * 31 + static_cast<int>(s) * 7 + i * 5) % m.hp.n_vocab), past + i, idx,
              i + 1 == n);
    }
    if (b.size() == 0) continue;
    StepOut o;
    const Tensor logits = forward_logits(m, b, *kv, be);
    std::vector<int32_t> rows;
    for (int32_t r = 0; r < logits.rows; ++r) rows.push_back(r);
    be.top_logits(logits, rows, 40, o.tops);
    o.logits.resize(static_cast<size_t>(logits.rows * logits.cols));
    be.to_host(logits, o.logits.data());
    out.push_back(std::move(o));
  }
  return out;
}

std::unique_ptr<Backend> prepared_cuda(const Model& m, bool graphs) {
  DeviceOptions o;
  o.device = "cuda";
  o.cuda_graphs = graphs;
  return make_backend_for(m, "cpu", 1, o, nullptr);
}

TEST(CudaStepGraphs, ReplaysEqualEagerAsSequencesJoinAndLeave) {
  HAYATE_SKIP_WITHOUT_CUDA();
  // Q4_K_M with and without the fused gate/up/SwiGLU mat-vec, and F16 (the generic mat-vec).
  for (const auto& [type, fused] :
       {std::pair<std::string, const char*>{"q4_k_m", "0"}, {"q4_k_m", "1"}, {"f16", "0"}}) {
    test::ScopedEnv fuse("HAYATE_CUDA_SWIGLU_FUSED", fused);
    auto m = Model::load(make_model(type));
    auto eager = prepared_cuda(*m, false);
    auto graphs = prepared_cuda(*m, true);
    const auto want = run_schedule(*m, *eager);
    const auto got = run_schedule(*m, *graphs);
    ASSERT_EQ(got.size(), want.size()) << type;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].logits, want[i].logits) << type << " step " << i;
      ASSERT_EQ(got[i].tops.size(), want[i].tops.size()) << type << " step " << i;
      for (size_t r = 0; r < want[i].tops.size(); ++r) {
        EXPECT_EQ(got[i].tops[r].ids, want[i].tops[r].ids) << type << " step " << i << " row " << r;
        EXPECT_EQ(got[i].tops[r].logits, want[i].tops[r].logits) << type << " step " << i << " row " << r;
        EXPECT_EQ(got[i].tops[r].log_norm, want[i].tops[r].log_norm) << type << " step " << i << " row " << r;
      }
    }
#ifdef HAYATE_HAVE_CUDA
    const auto& sg = dynamic_cast<cuda::CudaBackend&>(*graphs).step_graphs();
    // Prompt-bearing steps and each new (batch size, split, table width) shape are captured; the
    // rest, most of the 166 steps, replay.
    EXPECT_GE(sg.captures, 4) << type;
    EXPECT_GE(sg.replays, 100) << type;
    EXPECT_EQ(sg.replays + sg.captures, static_cast<int64_t>(want.size())) << type;
    EXPECT_EQ(sg.fallbacks, 0) << type;  // every forward step captures
    const auto& se = dynamic_cast<cuda::CudaBackend&>(*eager).step_graphs();
    EXPECT_EQ(se.replays + se.captures, 0) << type;
#endif
  }
}

#ifdef HAYATE_HAVE_CUDA
// A step whose launches cannot be captured (here one synchronises its stream, which a capture
// forbids) runs them eagerly instead, with the same effect, and its key stays eager afterwards.
TEST(CudaStepGraphs, UncapturableStepRunsEagerly) {
  HAYATE_SKIP_WITHOUT_CUDA();
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  void* dev = nullptr;
  ASSERT_EQ(cudaMalloc(&dev, sizeof(int)), cudaSuccess);
  cuda::StepGraphs graphs;
  for (int round = 0; round < 3; ++round) {
    const int byte = 7 + round;
    graphs.begin();
    graphs.key(dev);  // the same key every round
    graphs.add([=] {
      cuda::check(cudaMemsetAsync(dev, byte, sizeof(int), s), "memset");
      cuda::check(cudaStreamSynchronize(s), "sync inside a step");
    });
    graphs.end(s);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess) << round;
    int got = 0;
    ASSERT_EQ(cudaMemcpy(&got, dev, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got, byte * 0x01010101) << round;
  }
  EXPECT_EQ(graphs.fallbacks, 1);
  EXPECT_EQ(graphs.captures, 0);
  EXPECT_EQ(graphs.replays, 0);
  graphs.clear();
  (void)cudaFree(dev);
  (void)cudaStreamDestroy(s);
}
#endif

}  // namespace
}  // namespace hayate
