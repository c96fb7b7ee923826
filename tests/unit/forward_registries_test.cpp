// Adding an architecture and a backend is one row each: this test registers a toy architecture
// variant (register_arch: q/k/v biases and q/k norms together, which no built-in has) and a toy
// backend (register_backend: the reference backend's operations behind a KV cache type of its
// own, counting the calls), and runs the one forward pass through both. Also: a KV cache handed
// to a backend that did not make it fails naming both backends.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "backend/backend.h"
#include "backend/registry.h"
#include "core/error.h"
#include "forward/forward.h"
#include "model/model.h"
#include "model/synth.h"
#include "support/test_util.h"

namespace hayate {
namespace {

class ToyKvCache : public KvCache {
 public:
  explicit ToyKvCache(std::unique_ptr<KvCache> inner) : inner_(std::move(inner)) {
    n_layer = inner_->n_layer;
    n_blocks = inner_->n_blocks;
    block_size = inner_->block_size;
    kv_dim = inner_->kv_dim;
    bytes = inner_->bytes;
  }
  KvCache& inner() { return *inner_; }

 private:
  std::unique_ptr<KvCache> inner_;
};

// Every operation forwarded to a reference backend; `calls` counts them by name.
class ToyBackend : public Backend {
 public:
  std::string name() const override { return "toy"; }
  void prepare(const Model& m) override { ref_->prepare(m); }
  std::unique_ptr<KvCache> make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) override {
    auto cache = std::make_unique<ToyKvCache>(ref_->make_kv_cache(hp, n_blocks, block_size));
    cache->backend = name();
    return cache;
  }
  Tensor alloc(int64_t rows, int64_t cols) override { return ref_->alloc(rows, cols); }
  void reset_scratch() override { ref_->reset_scratch(); }
  size_t scratch_mark() const override { return ref_->scratch_mark(); }
  void scratch_release(size_t mark) override { ref_->scratch_release(mark); }
  void to_host(Tensor x, float* dst) override { ref_->to_host(x, dst); }

  void get_rows(const Weight& t, std::span<const int32_t> ids, Tensor out) override {
    ++calls["get_rows"];
    ref_->get_rows(t, ids, out);
  }
  void copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) override { ref_->copy_rows(x, rows, out); }
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override {
    ++calls["rms_norm"];
    ref_->rms_norm(x, w, eps, out);
  }
  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override {
    ++calls[bias ? "matmul+bias" : "matmul"];
    ref_->matmul(w, x, out, bias);
  }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override {
    ++calls[p.type == RopeType::Neox ? "rope/neox" : "rope/norm"];
    ref_->rope(x, n_heads, positions, p);
  }
  void store_kv(KvCache& kv, int32_t layer, Tensor k, Tensor v, const Batch& batch) override {
    ref_->store_kv(cache_of<ToyKvCache>(kv, *this).inner(), layer, k, v, batch);
  }
  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    ++calls["attention"];
    ref_->attention(cache_of<ToyKvCache>(kv, *this).inner(), layer, q, batch, n_head, n_head_kv, head_dim, out);
  }
  void swiglu(Tensor gate, Tensor up, Tensor out) override { ref_->swiglu(gate, up, out); }
  void add(Tensor x, Tensor y) override { ref_->add(x, y); }

  std::map<std::string, int> calls;

 private:
  std::unique_ptr<Backend> ref_ = make_backend("reference", 1);
};

// The one row each that this test adds; registered once per process.
void register_toys() {
  static const bool done = [] {
    register_arch({"toyqwen", RopeType::Neox, true, true, {"ToyQwenForCausalLM"}});
    register_backend({"toy", "the reference's operations, counted", false, true, nullptr,
                      [](const BackendOptions&) { return std::make_unique<ToyBackend>(); }});
    return true;
  }();
  (void)done;
}

std::unique_ptr<Model> toy_model() {
  register_toys();
  const std::string path = test::temp_path("toyqwen.gguf");
  SynthOptions o;
  o.arch = "toyqwen";
  o.n_embd = 64;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 128;
  o.n_ctx = 64;
  o.file_type = "f32";
  std::ostringstream log;
  synth_model(o, path, log);
  return Model::load(path);
}

std::vector<float> run(const Model& m, Backend& be, KvCache& kv) {
  Batch b;
  b.sequences.push_back({{0, 1}});
  for (int32_t i = 0; i < 5; ++i) b.add((i * 31 + 7) % m.hp.n_vocab, i, 0, true);
  return forward(m, b, kv, be);
}

TEST(Registries, ToyArchitectureIsLoadedFromItsRow) {
  const auto m = toy_model();
  EXPECT_EQ(m->hp.arch, "toyqwen");
  EXPECT_EQ(m->hp.rope_type, RopeType::Neox);
  ASSERT_EQ(m->layers.size(), 2u);
  for (const LayerWeights& l : m->layers) {
    EXPECT_TRUE(l.bq && l.bk && l.bv) << "synth writes and the loader reads the biases the row requires";
    EXPECT_TRUE(l.q_norm && l.k_norm) << "and the q/k norms";
  }
  const auto archs = supported_archs();
  EXPECT_NE(std::find(archs.begin(), archs.end(), "toyqwen"), archs.end());
  ASSERT_NE(find_arch_for_hf_class("ToyQwenForCausalLM"), nullptr);
  EXPECT_EQ(find_arch_for_hf_class("ToyQwenForCausalLM")->name, "toyqwen");
}

TEST(Registries, ForwardPassRunsThroughToyBackendAndToyArchitecture) {
  const auto m = toy_model();
  auto toy_be = make_backend("toy", 1);
  auto* toy = dynamic_cast<ToyBackend*>(toy_be.get());
  ASSERT_NE(toy, nullptr) << "make_backend finds the registered row";
  toy->prepare(*m);
  auto toy_kv = toy->make_kv_cache(m->hp, 2, 16);
  EXPECT_EQ(toy_kv->backend, "toy");
  const std::vector<float> logits = run(*m, *toy, *toy_kv);

  auto ref = make_backend("reference", 1);
  auto ref_kv = ref->make_kv_cache(m->hp, 2, 16);
  EXPECT_EQ(run(*m, *ref, *ref_kv), logits) << "the toy backend runs the reference's operations";

  // The architecture's data drives the forward pass: biased q/k/v and normed q/k in each layer.
  const int n_layer = m->hp.n_layer;
  EXPECT_EQ(toy->calls["matmul+bias"], 3 * n_layer);
  EXPECT_EQ(toy->calls["matmul"], 4 * n_layer + 1);    // wo, gate, up, down; the output
  EXPECT_EQ(toy->calls["rms_norm"], 4 * n_layer + 1);  // attn, q, k, ffn; the output norm
  EXPECT_EQ(toy->calls["rope/neox"], 2 * n_layer);
  EXPECT_EQ(toy->calls["rope/norm"], 0);
  EXPECT_EQ(toy->calls["attention"], n_layer);
  EXPECT_EQ(toy->calls["get_rows"], 1);
}

TEST(Registries, ToyBackendIsAChoiceWithItsDescription) {
  register_toys();
  const auto names = host_backend_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "toy"), names.end());
  EXPECT_NE(host_backend_help().find("toy (the reference's operations, counted)"), std::string::npos)
      << host_backend_help();
  ASSERT_NE(find_backend("toy"), nullptr);
  EXPECT_TRUE(find_backend("toy")->available());
  const auto devices = device_choices();
  EXPECT_EQ(std::find(devices.begin(), devices.end(), "toy"), devices.end()) << "a host backend is no --device";
}

TEST(Registries, TakenNamesAreRefused) {
  register_toys();
  try {
    register_backend(
        {"cpu", "again", false, true, nullptr, [](const BackendOptions&) { return make_backend("cpu", 1); }});
    FAIL() << "a second 'cpu' row was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("'cpu' is taken"), std::string::npos) << e.what();
  }
  EXPECT_THROW(register_arch({"llama", RopeType::Norm, false, false, {}}), Error);
  EXPECT_THROW(register_arch({"llama4", RopeType::Norm, false, false, {"LlamaForCausalLM"}}), Error);
  try {
    make_backend("nope", 1);
    FAIL() << "an unknown backend was made";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown backend 'nope' (choose cpu, reference, cuda"), std::string::npos)
        << e.what();
  }
}

// Each backend reads only caches it made: another backend's cache is a bug, caught by name.
TEST(Registries, KvCacheOfAnotherBackendFailsNamingBoth) {
  const auto m = toy_model();
  auto cpu = make_backend("cpu", 1);
  auto toy = make_backend("toy", 1);
  cpu->prepare(*m);
  toy->prepare(*m);
  auto toy_kv = toy->make_kv_cache(m->hp, 2, 16);
  auto cpu_kv = cpu->make_kv_cache(m->hp, 2, 16);
  for (auto [be, kv] : {std::pair{cpu.get(), toy_kv.get()}, std::pair{toy.get(), cpu_kv.get()}}) {
    try {
      run(*m, *be, *kv);
      FAIL() << be->name() << " ran on a cache made by " << kv->backend;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Internal);
      const std::string want =
          "backend '" + be->name() + "' was given a KV cache made by backend '" + kv->backend + "'";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  // The host backends share one cache layout: reference and cpu may read each other's.
  auto ref = make_backend("reference", 1);
  EXPECT_NO_THROW(run(*m, *ref, *cpu_kv));
}

}  // namespace
}  // namespace hayate
