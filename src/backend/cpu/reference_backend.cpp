// The oracle: every weight row is dequantized to fp32 and multiplied plainly, one thread.
// Slow on purpose; fast paths are tested against it.
#include <vector>

#include "backend/cpu/cpu_backends.h"
#include "backend/cpu/host_backend.h"
#include "backend/moe.h"
#include "quant/quant.h"

namespace hayate {
namespace {

class ReferenceBackend : public HostBackend {
 public:
  std::string name() const override { return "reference"; }
  KvType kv_type() const override { return KvType::F32; }  // plain fp32 throughout

  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override {
    std::vector<float> row(static_cast<size_t>(w.cols));
    const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;
    for (int64_t o = 0; o < w.rows; ++o) {
      quant::dequantize_row(w.type, w.row(o), row.data(), w.cols);
      for (int64_t t = 0; t < x.rows; ++t) {
        const float* in = x.data + t * x.cols;
        double sum = 0.0;
        for (int64_t i = 0; i < w.cols; ++i) sum += static_cast<double>(row[i]) * in[i];
        out.data[t * out.cols + o] = static_cast<float>(sum) + (b ? b[o] : 0.0f);
      }
    }
  }

  // One token at a time: the per-expert batching of the other backends is checked against it.
  void moe_ffn(const MoeFfn& f, Tensor x, Tensor out) override { moe_ffn_per_token(*this, f, x, out); }

  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    auto& cache = cache_of<CpuKvCache>(kv, *this);
    const int32_t group = n_head / n_head_kv;
    for (size_t t = 0; t < batch.size(); ++t) {
      std::vector<float> scores(static_cast<size_t>(batch.positions[t]) + 1);
      for (int32_t h = 0; h < n_head; ++h) {
        attend_one(cache, layer, q.data + t * q.cols + static_cast<int64_t>(h) * head_dim, h / group, head_dim,
                   batch.sequences[batch.seq[t]].block_table, cache.first_attended(layer, batch.positions[t]),
                   batch.positions[t], scores.data(), out.data + t * out.cols + static_cast<int64_t>(h) * head_dim);
      }
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace hayate
