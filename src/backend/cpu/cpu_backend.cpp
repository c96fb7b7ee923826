// The fast CPU backend: activations are converted once per matmul to the weight type's
// vec_dot_type (Q8_0 / Q8_K / f32), then output rows are split across a persistent thread pool
// and computed with the SIMD dot kernels chosen at run time.
#include <algorithm>
#include <vector>

#include "backend/cpu/host_backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/quant.h"

namespace hayate {
namespace {

class CpuBackend : public HostBackend {
 public:
  explicit CpuBackend(int n_threads) : pool_(n_threads), scores_(pool_.size()) {}
  std::string name() const override { return "cpu"; }

  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override {
    const quant::TypeTraits* tr = quant::traits(w.type);
    if (!tr || !tr->vec_dot) fail(ErrorKind::Unsupported, std::string("no dot kernel for ") + ggml_type_name(w.type));
    const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;

    // Activations in the kernel's input format.
    const void* act = x.data;
    size_t act_row = static_cast<size_t>(x.cols) * sizeof(float);
    if (tr->vec_dot_type != GgmlType::F32) {
      act_row = ggml_row_size(tr->vec_dot_type, x.cols);
      converted_.resize(act_row * static_cast<size_t>(x.rows));
      quant::FromFloatFn convert =
          tr->from_float_vec_dot ? tr->from_float_vec_dot : quant::traits(tr->vec_dot_type)->from_float;
      pool_.parallel_for(
          x.rows, [&](int64_t t, int) { convert(x.data + t * x.cols, converted_.data() + t * act_row, x.cols); });
      act = converted_.data();
    }

    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(64, w.rows / (pool_.size() * 8)));
    const int64_t n_chunks = (w.rows + chunk - 1) / chunk;
    const quant::VecDotFn dot = tr->vec_dot;
    const auto* act_bytes = static_cast<const uint8_t*>(act);
    pool_.parallel_for(n_chunks, [&](int64_t c, int) {
      const int64_t end = std::min(w.rows, (c + 1) * chunk);
      for (int64_t o = c * chunk; o < end; ++o) {
        const uint8_t* wrow = w.row(o);
        for (int64_t t = 0; t < x.rows; ++t) {
          float s;
          dot(w.cols, &s, wrow, act_bytes + t * act_row);
          out.data[t * out.cols + o] = s + (b ? b[o] : 0.0f);
        }
      }
    });
  }

  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    auto& cache = static_cast<CpuKvCache&>(kv);
    const int32_t group = n_head / n_head_kv;
    int32_t max_pos = 0;
    for (int32_t p : batch.positions) max_pos = std::max(max_pos, p);
    for (auto& s : scores_) s.resize(static_cast<size_t>(max_pos) + 1);
    pool_.parallel_for(static_cast<int64_t>(batch.size()) * n_head, [&](int64_t task, int thread) {
      const int64_t t = task / n_head;
      const int32_t h = static_cast<int32_t>(task % n_head);
      attend_one(cache, layer, q.data + t * q.cols + static_cast<int64_t>(h) * head_dim, h / group, head_dim,
                 batch.sequences[batch.seq[t]].block_table, batch.positions[t], scores_[thread].data(),
                 out.data + t * out.cols + static_cast<int64_t>(h) * head_dim);
    });
  }

 private:
  ThreadPool pool_;
  std::vector<uint8_t> converted_;
  std::vector<std::vector<float>> scores_;
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend();

std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads) {
  if (name == "reference") return make_reference_backend();
  if (name == "cpu") return std::make_unique<CpuBackend>(n_threads);
  if (name == "cuda") return make_cuda_backend(DeviceOptions{});
  fail(ErrorKind::BadInput, "unknown backend '" + name + "' (choose cpu, reference or cuda)");
}

}  // namespace hayate
