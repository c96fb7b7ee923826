// --gpu-layers: the automatic count from a memory budget, and place_model's choices and errors,
// with a fake device backend (the CPU backend behind a byte budget) so that it runs without a GPU.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/registry.h"
#include "core/error.h"
#include "forward/forward.h"
#include "forward/placement.h"
#include "forward/split.h"
#include "support/engine_support.h"
#include "support/wrapped_backend.h"

namespace hayate {
namespace {

constexpr int32_t kLayers = 4;

const Model& model() {
  static const std::unique_ptr<Model> m =
      Model::load(test::tiny_model_path("placement.gguf", 128, kLayers, 256, 256, "q8_0"));
  return *m;
}

uint64_t g_budget = 0;  // the fake device's memory for the next backend made

// The CPU backend, counting what prepare() and KV caches take against a budget, as the CUDA
// backend does with its device memory.
class BudgetBackend : public test::WrappedBackend {
 public:
  BudgetBackend() : WrappedBackend(make_backend("cpu", 2)), left_(g_budget) {}
  std::string name() const override { return "fakegpu"; }
  uint64_t device_memory_left() const override { return left_; }
  void prepare(const Model& m) override {
    for_each_weight(m, [&](const Weight& w, WeightKind) { take(w ? w.row_bytes() * w.rows : 0); });
    inner_->prepare(m);
  }
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override {
    auto kv = inner_->make_kv_cache(hp, n_blocks, block_size);
    take(kv->bytes);
    return kv;
  }

 private:
  void take(uint64_t bytes) {
    if (bytes > left_) fail(ErrorKind::ResourceExhausted, "fakegpu: out of its memory budget");
    left_ -= bytes;
  }
  uint64_t left_;
};

void register_fake_device() {
  static const bool done = [] {
    register_backend({"fakegpu", "test device with a byte budget", true, true, nullptr,
                      [](const BackendOptions&) { return std::make_unique<BudgetBackend>(); }});
    return true;
  }();
  (void)done;
}

DeviceOptions on(const std::string& device, std::optional<int32_t> gpu_layers = std::nullopt) {
  DeviceOptions o;
  o.device = device;
  o.gpu_layers = gpu_layers;
  return o;
}

const PlacementHints kHints{64, 16};

// The budget that holds the fixed part and the first n layers (and the head when n is all).
uint64_t budget_for(int32_t n) {
  const uint64_t kv_per_position = 2 * static_cast<uint64_t>(model().hp.kv_dim()) * sizeof(float);  // CPU: fp32 K and V
  const LayerCosts c = layer_costs(model(), kv_per_position, kHints);
  uint64_t b = c.fixed;
  for (int32_t i = 0; i < n; ++i) b += c.layers[i];
  return n == kLayers ? b + c.head : b;
}

std::vector<float> logits(Backend& be) {
  auto kv = be.make_kv_cache(model().hp, 4, 16);
  Batch b;
  b.sequences.push_back({{2}});
  for (int32_t i = 0; i < 9; ++i) b.add((i * 29 + 3) % model().hp.n_vocab, i, 0, true);
  return forward(model(), b, *kv, be);
}

TEST(Placement, LayersThatFitTheBudget) {
  LayerCosts c;
  c.fixed = 100;
  c.head = 50;
  c.layers = {10, 10, 10};
  EXPECT_EQ(layers_that_fit(c, 99), 0);
  EXPECT_EQ(layers_that_fit(c, 109), 0);
  EXPECT_EQ(layers_that_fit(c, 110), 1);
  EXPECT_EQ(layers_that_fit(c, 129), 2);
  // Every layer but not the head: the last layer goes with the head to the CPU.
  EXPECT_EQ(layers_that_fit(c, 130), 2);
  EXPECT_EQ(layers_that_fit(c, 179), 2);
  EXPECT_EQ(layers_that_fit(c, 180), 3);
  EXPECT_EQ(layers_that_fit(c, UINT64_MAX), 3);
}

TEST(Placement, CostsAddUpToTheModelsWeights) {
  const Model& m = model();
  const LayerCosts c = layer_costs(m, 0, kHints);
  uint64_t layers = 0;
  for (uint64_t l : c.layers) layers += l;
  ASSERT_EQ(c.layers.size(), static_cast<size_t>(kLayers));
  // With no KV and no activations, what is left of fixed and head beyond the weights is the
  // slack and the logits of the head.
  const uint64_t logits = 16 * static_cast<uint64_t>(m.hp.n_vocab) * sizeof(float);
  const uint64_t scratch =
      16 * static_cast<uint64_t>(4 * m.hp.n_embd + 2 * m.hp.q_dim() + 2 * m.hp.kv_dim() + 2 * m.hp.n_ff) *
      sizeof(float);
  EXPECT_EQ(c.fixed + c.head + layers - logits - scratch - (uint64_t{64} << 20), m.weight_bytes());
  // The KV cache adds per layer what one position costs times the positions.
  const LayerCosts with_kv = layer_costs(m, 1000, kHints);
  for (size_t i = 0; i < c.layers.size(); ++i) EXPECT_EQ(with_kv.layers[i], c.layers[i] + 1000 * 64);
}

TEST(Placement, AutomaticCountSplitsAModelLargerThanTheBudget) {
  register_fake_device();
  auto cpu = make_backend("cpu", 2);
  cpu->prepare(model());
  const std::vector<float> want = logits(*cpu);
  for (int32_t n = 1; n <= kLayers; ++n) {
    g_budget = budget_for(n);
    std::ostringstream log;
    auto be = place_model(model(), "cpu", 2, on("fakegpu"), kHints, &log);
    if (n == kLayers) {
      EXPECT_EQ(be->name(), "fakegpu") << log.str();
    } else {
      EXPECT_EQ(be->name(), "fakegpu[0," + std::to_string(n) + ")+cpu[" + std::to_string(n) + ",4)") << log.str();
      EXPECT_NE(log.str().find(std::to_string(n) + " of 4 layers fit"), std::string::npos) << log.str();
    }
    EXPECT_EQ(logits(*be), want) << n << " layers on the fake device";
  }
}

TEST(Placement, NotOneLayerFitsOrTooManyGivenIsAClearError) {
  register_fake_device();
  g_budget = budget_for(1) - 1;
  try {
    place_model(model(), "cpu", 2, on("fakegpu"), kHints, nullptr);
    FAIL() << "placed a model of which no layer fits";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::ResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("--gpu-memory-fraction"), std::string::npos) << e.what();
  }
  // An explicit count over the budget: the device's own error, with what to change.
  g_budget = 1000;
  try {
    place_model(model(), "cpu", 2, on("fakegpu", 3), kHints, nullptr);
    FAIL() << "placed 3 layers in the memory of none";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::ResourceExhausted);
    EXPECT_NE(std::string(e.what()).find("lower --gpu-layers"), std::string::npos) << e.what();
  }
}

TEST(Placement, AutoRunsOnTheCpuWhenTheDeviceHoldsNoLayer) {
  register_fake_device();
  if (cuda_device_count() > 0) GTEST_SKIP() << "auto would pick the real GPU";
  g_budget = budget_for(1) - 1;
  std::ostringstream log;
  EXPECT_EQ(place_model(model(), "cpu", 2, on("auto"), kHints, &log)->name(), "cpu");
  EXPECT_NE(log.str().find("not using fakegpu"), std::string::npos) << log.str();
  g_budget = budget_for(2);
  EXPECT_EQ(place_model(model(), "cpu", 2, on("auto"), kHints, &log)->name(), "fakegpu[0,2)+cpu[2,4)");
  // The reference backend asks for the plain CPU path.
  EXPECT_EQ(place_model(model(), "reference", 2, on("auto"), kHints, &log)->name(), "reference");
}

TEST(Placement, GivenCountsAndBadOnes) {
  register_fake_device();
  g_budget = UINT64_MAX;
  EXPECT_EQ(place_model(model(), "cpu", 2, on("fakegpu", 0), kHints, nullptr)->name(), "cpu");
  EXPECT_EQ(place_model(model(), "cpu", 2, on("fakegpu", 2), kHints, nullptr)->name(), "fakegpu[0,2)+cpu[2,4)");
  EXPECT_EQ(place_model(model(), "cpu", 2, on("fakegpu", kLayers), kHints, nullptr)->name(), "fakegpu");
  for (const int32_t bad : {-1, kLayers + 1}) {
    try {
      place_model(model(), "cpu", 2, on("fakegpu", bad), kHints, nullptr);
      FAIL() << "--gpu-layers " << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find("the model has 4 layers"), std::string::npos) << e.what();
    }
  }
  try {
    place_model(model(), "cpu", 2, on("cpu", 2), kHints, nullptr);
    FAIL() << "--gpu-layers on --device cpu was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("needs a GPU"), std::string::npos) << e.what();
  }
  EXPECT_EQ(place_model(model(), "cpu", 2, on("cpu"), kHints, nullptr)->name(), "cpu");
}

TEST(Placement, ParsesGpuLayers) {
  EXPECT_EQ(parse_gpu_layers("auto"), std::nullopt);
  EXPECT_EQ(parse_gpu_layers(""), std::nullopt);
  EXPECT_EQ(parse_gpu_layers("0"), 0);
  EXPECT_EQ(parse_gpu_layers("32"), 32);
  for (const char* bad : {"-1", "x", "3x", "1.5", " 2"}) EXPECT_THROW(parse_gpu_layers(bad), Error) << bad;
}

}  // namespace
}  // namespace hayate
