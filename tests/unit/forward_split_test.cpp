// A model split between two backends at every layer boundary gives what the unsplit model gives:
// bit for bit when both parts are the CPU backend, within the reference tolerances (and the same
// greedy tokens) when one part is the reference backend; for prompt batches and decode steps of
// two sequences in one batch.
#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "forward/forward.h"
#include "forward/split.h"
#include "support/engine_support.h"
#include "support/forward_runs.h"

namespace hayate {
namespace {

constexpr int32_t kLayers = 4;

std::unique_ptr<Model> make_model(const std::string& type, bool tied) {
  return Model::load(
      test::tiny_model_path("split-" + type + (tied ? "-tied" : "") + ".gguf", 128, kLayers, 256, 256, type, tied));
}

using test::Steps;

Steps run(const Model& m, Backend& be) { return test::two_sequence_steps(m, be); }

std::unique_ptr<SplitBackend> split(std::unique_ptr<Backend> a, std::unique_ptr<Backend> b, int32_t at) {
  std::vector<LayerRange> ranges;
  ranges.push_back({std::move(a), 0, at});
  ranges.push_back({std::move(b), at, kLayers});
  return std::make_unique<SplitBackend>(std::move(ranges));
}

// Q8_0 prepared: the CPU backend regroups the matrices of its part only; tied: the last part's
// head is the embedding table, the first part's lookup too.
TEST(Split, CpuTwiceIsBitIdenticalAtEveryBoundary) {
  for (const bool tied : {false, true}) {
    const auto m = make_model("q8_0", tied);
    auto whole = make_backend("cpu", 2);
    whole->prepare(*m);
    const Steps want = run(*m, *whole);
    for (int32_t at = 0; at <= kLayers; ++at) {
      auto be = split(make_backend("cpu", 2), make_backend("cpu", 2), at);
      be->prepare(*m);
      const Steps got = run(*m, *be);
      EXPECT_EQ(got.logits, want.logits) << "boundary " << at << " tied " << tied;
      EXPECT_EQ(got.greedy, want.greedy) << "boundary " << at << " tied " << tied;
      EXPECT_EQ(got.hidden, want.hidden) << "boundary " << at << " tied " << tied;
    }
  }
}

TEST(Split, ReferenceAndCpuMatchTheReferenceAtEveryBoundary) {
  const auto m = make_model("f16", false);
  auto ref = make_backend("reference", 1);
  const Steps want = run(*m, *ref);
  const size_t v = static_cast<size_t>(m->hp.n_vocab);
  for (const bool ref_first : {true, false}) {
    for (int32_t at = 0; at <= kLayers; ++at) {
      auto a = make_backend(ref_first ? "reference" : "cpu", 2);
      auto b = make_backend(ref_first ? "cpu" : "reference", 2);
      auto be = split(std::move(a), std::move(b), at);
      be->prepare(*m);
      const Steps got = run(*m, *be);
      ASSERT_EQ(got.logits.size(), want.logits.size());
      for (size_t row = 0; row < want.logits.size() / v; ++row)  // the float-weight tolerance of backend_forward_test
        EXPECT_LT(test::max_relative_error(got.logits.data() + row * v, want.logits.data() + row * v, v), 1e-4)
            << "boundary " << at << " row " << row << " reference first " << ref_first;
      EXPECT_EQ(got.greedy, want.greedy) << "boundary " << at << " reference first " << ref_first;
      EXPECT_LT(test::max_relative_error(got.hidden.data(), want.hidden.data(), want.hidden.size()), 1e-4);
    }
  }
}

TEST(Split, EachPartHoldsTheKvOfItsLayersOnly) {
  const auto m = make_model("f16", false);
  auto be = split(make_backend("cpu", 1), make_backend("reference", 1), 1);
  auto kv = be->make_kv_cache(m->hp, 4, 16);
  const auto& parts = dynamic_cast<SplitKvCache&>(*kv).parts;
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->n_layer, 1);
  EXPECT_EQ(parts[0]->backend, "cpu");
  EXPECT_EQ(parts[1]->n_layer, kLayers - 1);
  EXPECT_EQ(parts[1]->backend, "reference");
  EXPECT_EQ(kv->bytes, parts[0]->bytes + parts[1]->bytes);
  EXPECT_EQ(kv->n_layer, kLayers);
  EXPECT_EQ(be->name(), "cpu[0,1)+reference[1,4)");
  // An empty range has no cache.
  auto edge = split(make_backend("cpu", 1), make_backend("cpu", 1), 0);
  EXPECT_EQ(dynamic_cast<SplitKvCache&>(*edge->make_kv_cache(m->hp, 4, 16)).parts[0], nullptr);
}

TEST(Split, RefusesRangesThatDoNotTileTheModelAndForeignCaches) {
  const auto m = make_model("f16", false);
  auto ranges_of = [](std::vector<std::pair<int32_t, int32_t>> spans) {
    std::vector<LayerRange> out;
    for (const auto& [b, e] : spans) out.push_back({make_backend("cpu", 1), b, e});
    return out;
  };
  EXPECT_THROW(SplitBackend(ranges_of({})), Error);
  EXPECT_THROW(SplitBackend(ranges_of({{1, 4}})), Error);          // not from layer 0
  EXPECT_THROW(SplitBackend(ranges_of({{0, 2}, {3, 4}})), Error);  // a gap
  EXPECT_THROW(SplitBackend(ranges_of({{0, 2}, {2, 1}})), Error);  // backwards
  {
    std::vector<LayerRange> no_backend(1);
    no_backend[0].end = 4;
    EXPECT_THROW(SplitBackend(std::move(no_backend)), Error);
  }
  SplitBackend short_split(ranges_of({{0, 1}, {1, 3}}));  // 3 layers for a model of 4
  EXPECT_THROW(short_split.prepare(*m), Error);
  EXPECT_THROW(short_split.make_kv_cache(m->hp, 4, 16), Error);

  auto be = split(make_backend("cpu", 1), make_backend("cpu", 1), 2);
  auto plain = make_backend("cpu", 1)->make_kv_cache(m->hp, 4, 16);
  Batch b;
  b.sequences.push_back({{0}});
  b.add(1, 0, 0, true);
  try {
    forward(*m, b, *plain, *be);
    FAIL() << "a cache of another backend was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
    EXPECT_NE(std::string(e.what()).find("cpu[0,2)+cpu[2,4)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hayate
