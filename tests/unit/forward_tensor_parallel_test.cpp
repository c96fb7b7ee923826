// Tensor parallelism over CPU backends with the in-process communicator: the weights really are
// sliced (each rank holds 1/N of the heads and FFN columns, a slice of the vocabulary) and the
// ranks' partial sums all-reduced, and the logits stay within the CPU tolerance of the unsplit
// model with the same greedy tokens, for prompt batches and decode steps of two sequences in one
// batch; on llama-shaped (as many KV heads as heads), GQA and biased (qwen2) synthetic models.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/comm.h"
#include "core/error.h"
#include "forward/forward.h"
#include "forward/tensor_parallel.h"
#include "model/synth.h"
#include "support/forward_runs.h"
#include "support/test_util.h"

namespace hayate {
namespace {

struct Shape {
  std::string arch;
  int32_t n_head, n_head_kv;
  std::string file_type;
  bool tied;
};

std::unique_ptr<Model> make_model(const Shape& s) {
  SynthOptions o;
  o.arch = s.arch;
  o.n_embd = 128;
  o.n_layer = 3;
  o.n_head = s.n_head;
  o.n_head_kv = s.n_head_kv;
  o.n_ff = 256;
  o.n_ctx = 256;
  o.file_type = s.file_type;
  o.tie_embeddings = s.tied;
  const std::string path = test::temp_path("tp-" + s.arch + "-" + std::to_string(s.n_head) + "-" +
                                           std::to_string(s.n_head_kv) + "-" + s.file_type + ".gguf");
  std::ostringstream log;
  synth_model(o, path, log);
  return Model::load(path);
}

std::unique_ptr<TensorParallelBackend> tensor_parallel(const Model& m, int n) {
  std::vector<std::unique_ptr<Backend>> ranks;
  for (int r = 0; r < n; ++r) ranks.push_back(make_backend("cpu", 1));
  auto tp = std::make_unique<TensorParallelBackend>(std::move(ranks), make_in_process_communicators(n));
  tp->prepare(m);
  return tp;
}

void expect_close(const test::Steps& got, const test::Steps& want, int64_t width, const std::string& what) {
  ASSERT_EQ(got.logits.size(), want.logits.size()) << what;
  const auto v = static_cast<size_t>(width);
  for (size_t row = 0; row < want.logits.size() / v; ++row)  // the float-weight tolerance of backend_forward_test
    EXPECT_LT(test::max_relative_error(got.logits.data() + row * v, want.logits.data() + row * v, v), 1e-4)
        << what << " row " << row;
  EXPECT_EQ(got.greedy, want.greedy) << what;
  ASSERT_EQ(got.hidden.size(), want.hidden.size()) << what;
  EXPECT_LT(test::max_relative_error(got.hidden.data(), want.hidden.data(), want.hidden.size()), 1e-4) << what;
}

TEST(TensorParallel, CpuRanksMatchTheUnsplitModel) {
  const std::vector<Shape> shapes = {
      {"llama", 4, 4, "f16", false},  // llama-shaped: a KV head per head
      {"llama", 8, 4, "q8_0", true},  // GQA, quantized, tied head (the vocabulary slice is a view of the table)
      {"qwen2", 4, 2, "f32", false},  // Q/K/V biases sliced with their heads
  };
  for (const Shape& s : shapes) {
    const auto m = make_model(s);
    auto whole = make_backend("cpu", 1);
    whole->prepare(*m);
    const test::Steps want = test::two_sequence_steps(*m, *whole);
    for (int n : {1, 2, 4}) {
      if (s.n_head_kv % n != 0) continue;
      auto tp = tensor_parallel(*m, n);
      const std::string what = s.arch + " " + std::to_string(s.n_head) + "/" + std::to_string(s.n_head_kv) + " " +
                               s.file_type + " TP=" + std::to_string(n);
      expect_close(test::two_sequence_steps(*m, *tp), want, m->hp.n_vocab, what);
    }
  }
}

// Each rank holds its share: the heads, KV heads and FFN columns divided, the KV cache too.
TEST(TensorParallel, RanksHoldTheirShare) {
  const auto m = make_model({"llama", 8, 4, "f16", false});
  auto tp = tensor_parallel(*m, 4);
  auto kv = tp->make_kv_cache(m->hp, 4, 16);
  auto whole = make_backend("cpu", 1);
  auto whole_kv = whole->make_kv_cache(m->hp, 4, 16);
  EXPECT_EQ(kv->bytes, whole_kv->bytes);
  const auto ranks = tp->ranks(*kv);
  ASSERT_EQ(ranks.size(), 4u);
  for (size_t r = 0; r < ranks.size(); ++r) {
    const Model& part = *ranks[r].model;
    EXPECT_EQ(part.hp.n_head, 2);
    EXPECT_EQ(part.hp.n_head_kv, 1);
    EXPECT_EQ(part.hp.n_ff, 64);
    EXPECT_EQ(ranks[r].kv->bytes * 4, whole_kv->bytes);
    EXPECT_EQ(part.layers[0].wq.rows, m->hp.q_dim() / 4);
    EXPECT_EQ(part.layers[0].wk.rows, m->hp.kv_dim() / 4);
    EXPECT_EQ(part.layers[0].wo.cols, m->hp.q_dim() / 4);
    EXPECT_EQ(part.layers[0].wo.rows, m->hp.n_embd);
    EXPECT_EQ(part.layers[0].ffn_down.cols, 64);
    EXPECT_EQ(part.output.rows, tp->vocab_offsets()[r + 1] - tp->vocab_offsets()[r]);
    // Rank r's query rows are rows [r q/4, (r+1) q/4) of the model's.
    EXPECT_EQ(part.layers[1].wq.data, m->layers[1].wq.row(static_cast<int64_t>(r) * m->hp.q_dim() / 4));
  }
  EXPECT_EQ(tp->vocab_offsets().back(), m->hp.n_vocab);
  // The memory plan: each rank's KV a quarter of the whole, its weights less than half.
  const std::vector<RankMemory> plan = tensor_parallel_memory(*m, 4, 4);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].kv_per_position, 2u * 3u * static_cast<uint64_t>(m->hp.kv_dim() / 4) * 4u);
  EXPECT_LT(plan[1].weights, m->weight_bytes());
  std::ostringstream table;
  print_tensor_parallel_plan(*m, 4, 4, 1024, {"cpu", "cpu", "cpu", "cpu"}, table);
  EXPECT_NE(table.str().find("each GPU 2 of 8 heads, 1 of 4 KV heads, 64 of 256 FFN columns"), std::string::npos)
      << table.str();
}

TEST(TensorParallel, VocabularySlicesCoverItOnce) {
  EXPECT_EQ(vocab_offset(10, 4, 0), 0);
  EXPECT_EQ(vocab_offset(10, 4, 1), 3);
  EXPECT_EQ(vocab_offset(10, 4, 2), 6);
  EXPECT_EQ(vocab_offset(10, 4, 3), 8);
  EXPECT_EQ(vocab_offset(10, 4, 4), 10);
}

void expect_bad_input(const Model& m, int32_t n, const std::string& says) {
  try {
    check_tensor_parallel(m, n);
    ADD_FAILURE() << "TP=" << n << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(TensorParallel, SizesThatDoNotDivideAreRefusedNamingTheNumbers) {
  const auto m = make_model({"llama", 8, 4, "q8_0", false});
  expect_bad_input(*m, 3, "--tensor-parallel 3: the model's 8 attention heads do not divide into 3");
  expect_bad_input(*m, 8, "--tensor-parallel 8: the model's 4 KV heads do not divide into 8");
  expect_bad_input(*m, 0, "--tensor-parallel 0: give a number of GPUs of 1 or more");
  // 128 query columns over 8 ranks would be 16 a rank: half a q8_0 block of 32.
  const auto wide = make_model({"llama", 8, 8, "q8_0", false});
  expect_bad_input(*wide, 8,
                   "each GPU's 16 input columns of blk.0.attn_output.weight (layer 0) are not whole q8_0 "
                   "blocks of 32");
  auto tp_ranks = [](int n) {
    std::vector<std::unique_ptr<Backend>> ranks;
    for (int r = 0; r < n; ++r) ranks.push_back(make_backend("cpu", 1));
    return ranks;
  };
  TensorParallelBackend tp(tp_ranks(3), make_in_process_communicators(3));
  EXPECT_THROW(tp.prepare(*m), Error);
  EXPECT_THROW(TensorParallelBackend(tp_ranks(2), make_in_process_communicators(3)), Error);
}

// A rank that fails mid-step fails the step with its own error; the others, waiting in a
// collective, do not hang, and the group runs the next step.
TEST(TensorParallel, ARankThatFailsFailsTheStep) {
  const auto m = make_model({"llama", 4, 4, "f16", false});
  auto tp = tensor_parallel(*m, 2);
  auto kv = tp->make_kv_cache(m->hp, 4, 16);
  const auto ranks = tp->ranks(*kv);
  try {
    tp->run([&](int32_t r) {
      if (r == 1) fail(ErrorKind::Internal, "rank 1 broke");
      Tensor x = ranks[0].backend->alloc(1, 4);
      ranks[0].comm->all_reduce_sum(x);
    });
    ADD_FAILURE() << "the step succeeded";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rank 1 broke");
  }
  Batch b;
  b.sequences.push_back({{0}});
  b.add(5, 0, 0, true);
  EXPECT_EQ(forward(*m, b, *kv, *tp).size(), static_cast<size_t>(m->hp.n_vocab));
}

}  // namespace
}  // namespace hayate
