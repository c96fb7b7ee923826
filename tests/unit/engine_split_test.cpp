// The engine driving a model split between backends (forward/split.h, what --gpu-layers makes):
// continuous batching of several sequences, chunked prompts beside decodes and prefix caching
// give the tokens and log-probabilities of the unsplit engine.
#include <gtest/gtest.h>

#include <chrono>

#include "engine/engine.h"
#include "forward/placement.h"
#include "forward/split.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

using namespace std::chrono_literals;

constexpr int32_t kLayers = 4;

const test::TinyModel& tiny() {
  static test::TinyModel l = test::make_tiny_model("engine-split.gguf", 128, kLayers, 256, 512);
  return l;
}

std::unique_ptr<Backend> split_at(const std::string& first, const std::string& second, int32_t at) {
  std::vector<LayerRange> ranges;
  ranges.push_back({make_backend(first, 2), 0, at});
  ranges.push_back({make_backend(second, 2), at, kLayers});
  auto be = std::make_unique<SplitBackend>(std::move(ranges));
  be->prepare(*tiny().model);
  return be;
}

struct Output {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;  // of each chosen token
  int32_t cached_tokens = 0;
};

// Six requests at once (chunked prefill of the longer ones beside the decodes of the others),
// then two sharing a long prefix, one after the other (the second from the prefix cache).
std::vector<Output> serve(std::unique_ptr<Backend> backend) {
  EngineConfig c;
  c.n_ctx = 512;
  c.max_batch_tokens = 48;
  Engine engine(*tiny().model, std::move(backend), tiny().tokenizer.get(), c);
  auto collect = [](RequestHandle& h) {
    Output o;
    while (auto e = h.next(60s)) {
      if (e->kind == Event::Token) {
        o.tokens.push_back(e->token);
        o.logprobs.push_back(e->sample.logprob);
      } else {
        o.cached_tokens = e->usage.cached_tokens;
      }
    }
    EXPECT_TRUE(h.finished());
    return o;
  };
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 6; ++i) {
    std::string text = "Request " + std::to_string(i) + ": ";
    for (int j = 0; j < i * 12; ++j) text += static_cast<char>('a' + (i * 7 + j * 3) % 26);
    handles.push_back(engine.submit({tiny().tokenizer->encode(text, true, false), test::greedy(16, true), true}));
  }
  std::vector<Output> out;
  for (auto& h : handles) out.push_back(collect(*h));
  std::string prefix;
  for (int i = 0; i < 64; ++i) prefix += static_cast<char>('A' + i % 26);
  for (const char* tail : {" first question?", " and a different one"}) {
    auto h = engine.submit({tiny().tokenizer->encode(prefix + tail, true, false), test::greedy(12, true), true});
    out.push_back(collect(*h));
  }
  EXPECT_GT(engine.stats().max_batch_sequences, 1);
  EXPECT_GE(engine.stats().prefix_hit_tokens, 64);
  return out;
}

TEST(EngineSplit, CpuTwiceGivesTheUnsplitTokensAndLogprobsAtEveryBoundary) {
  auto whole = make_backend("cpu", 2);
  whole->prepare(*tiny().model);
  const std::vector<Output> want = serve(std::move(whole));
  ASSERT_EQ(want.size(), 8u);
  EXPECT_GE(want.back().cached_tokens, 64);
  for (int32_t at = 0; at <= kLayers; ++at) {
    const std::vector<Output> got = serve(split_at("cpu", "cpu", at));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i << " boundary " << at;
      EXPECT_EQ(got[i].logprobs, want[i].logprobs) << "request " << i << " boundary " << at;
      EXPECT_EQ(got[i].cached_tokens, want[i].cached_tokens) << "request " << i << " boundary " << at;
    }
  }
}

TEST(EngineSplit, ReferenceAndCpuGiveTheReferenceTokens) {
  const std::vector<Output> want = serve(make_backend("reference", 1));
  for (const int32_t at : {1, kLayers / 2, kLayers - 1}) {
    const std::vector<Output> got = serve(split_at("reference", "cpu", at));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i << " boundary " << at;
      ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size());
      for (size_t t = 0; t < want[i].logprobs.size(); ++t)
        EXPECT_NEAR(got[i].logprobs[t], want[i].logprobs[t], 1e-3) << "request " << i << " token " << t;
    }
  }
}

// --tensor-parallel N with --device cpu: the model's heads, FFN columns, vocabulary and KV cache
// sliced over N CPU backends (forward/tensor_parallel.h), driven by the same single scheduler:
// the unsplit engine's tokens, its log-probabilities within the CPU tolerance. N = 3 does not
// divide the 4 heads: a pipeline of the 4 layers over 3 backends instead, saying so.
TEST(EngineSplit, TensorParallelCpuRanksGiveTheUnsplitTokens) {
  auto whole = make_backend("cpu", 2);
  whole->prepare(*tiny().model);
  const std::vector<Output> want = serve(std::move(whole));
  for (const int32_t n : {1, 2, 3}) {
    DeviceOptions opt;
    opt.device = "cpu";
    opt.tensor_parallel = n;
    std::ostringstream log;
    auto be = place_model(*tiny().model, "cpu", 2, opt, PlacementHints{}, &log);
    if (n == 2) {
      EXPECT_EQ(be->name(), "tp2(cpu)");
      EXPECT_NE(log.str().find("tensor parallel 2: each GPU 2 of 4 heads, 1 of 2 KV heads"), std::string::npos)
          << log.str();
    }
    if (n == 3) {
      EXPECT_EQ(be->name(), "cpu[0,1)+cpu[1,2)+cpu[2,4)");
      EXPECT_NE(log.str().find("--tensor-parallel 3: the model's 4 attention heads do not divide into 3; running a "
                               "pipeline of layers over 3 instead"),
                std::string::npos)
          << log.str();
    }
    const std::vector<Output> got = serve(std::move(be));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].tokens, want[i].tokens) << "request " << i << " TP=" << n;
      ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size());
      for (size_t t = 0; t < want[i].logprobs.size(); ++t)
        EXPECT_NEAR(got[i].logprobs[t], want[i].logprobs[t], 1e-3) << "request " << i << " token " << t << " TP=" << n;
      EXPECT_EQ(got[i].cached_tokens, want[i].cached_tokens) << "request " << i << " TP=" << n;
    }
  }
}

TEST(EngineSplit, TensorParallelErrorsSayWhatIsWrong) {
  auto expect = [](const DeviceOptions& opt, ErrorKind kind, const std::string& says) {
    try {
      place_model(*tiny().model, "cpu", 1, opt, PlacementHints{}, nullptr);
      ADD_FAILURE() << "accepted: " << says;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  DeviceOptions opt;
  opt.device = "cpu";
  opt.tensor_parallel = 8;  // neither the heads divide nor are there 8 layers for a pipeline
  expect(opt, ErrorKind::BadInput,
         "--tensor-parallel 8: the model's 4 attention heads do not divide into 8; and a pipeline of the model's 4 "
         "layers takes 1 to 4 GPUs, not 8");
  opt.tensor_parallel = 0;
  expect(opt, ErrorKind::BadInput, "--tensor-parallel 0: give a number of GPUs of 1 or more");
  opt.tensor_parallel = 2;
  opt.gpu_layers = 1;
  expect(opt, ErrorKind::BadInput, "does not combine with --gpu-layers");
  if (cuda_device_count() < 64) {  // GPUs missing: a CUDA build says how many are visible
    DeviceOptions gpu;
    gpu.device = "cuda";
    gpu.tensor_parallel = 64;
    expect(gpu, cuda_built() ? ErrorKind::BadInput : ErrorKind::Unsupported,
           cuda_built() ? "CUDA device" : "--tensor-parallel 64");
  }
  EXPECT_EQ(pipeline_ranges(10, 3), (std::vector<std::pair<int32_t, int32_t>>{{0, 3}, {3, 6}, {6, 10}}));
}

}  // namespace
}  // namespace hayate
