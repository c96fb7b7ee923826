// The CUDA backend's operations of BERT-family encoders (ArchFeature::Encoder; forward/encoder.h):
// LayerNorm, GELU and bidirectional attention over packed sequences, kernels in encoder.cu. Their
// arguments are checked as every backend checks them (backend.h check_layer_norm, ...).
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "core/error.h"

namespace hayate::cuda {

void CudaBackend::layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out) {
  check_layer_norm(x, w, b, out);
  const auto* weight = static_cast<const float*>(dev(w).data);
  const auto* bias = static_cast<const float*>(dev(b).data);
  Timed t(*this, "gpu layer_norm");
  launch(
      [=, this] {
        check(cuda::layer_norm(x.data, x.cols, weight, bias, x.rows, x.cols, eps, out.data, out.cols, stream_),
              "layer_norm kernel");
      },
      "layer_norm", x.data, x.rows, x.cols, weight, bias, eps, out.data);
}

void CudaBackend::gelu(Tensor x, Tensor out) {
  check_gelu(x, out);
  const int64_t n = x.rows * x.cols;
  Timed t(*this, "gpu gelu");
  launch([=, this] { check(cuda::gelu(x.data, out.data, n, stream_), "gelu kernel"); }, "gelu", x.data, out.data, n);
}

void CudaBackend::encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                                    Tensor out) {
  check_encoder_attention(q, k, v, seq_lens, n_head, out);
  const auto head_dim = static_cast<int32_t>(q.cols / n_head);
  if (head_dim > kMaxEncoderHeadDim)
    fail(ErrorKind::Unsupported, "encoder_attention: heads of " + std::to_string(head_dim) +
                                     " values; the CUDA backend takes at most " + std::to_string(kMaxEncoderHeadDim));
  // A tile per run of up to tile queries of one sequence: (first row, length, first query).
  const int32_t tile = encoder_attention_tile_queries();
  encoder_tiles_.clear();
  int32_t first = 0;
  for (const int32_t len : seq_lens) {
    for (int32_t q0 = 0; q0 < len; q0 += tile) encoder_tiles_.insert(encoder_tiles_.end(), {first, len, q0});
    first += len;
  }
  EncoderAttentionArgs a;
  a.q = q.data;
  a.k = k.data;
  a.v = v.data;
  a.ldq = q.cols;
  a.ldk = k.cols;
  a.ldv = v.cols;
  a.n_head = n_head;
  a.head_dim = head_dim;
  a.tiles = static_cast<const int32_t*>(upload(encoder_tiles_.data(), encoder_tiles_.size() * sizeof(int32_t)));
  a.n_tiles = static_cast<int32_t>(encoder_tiles_.size() / 3);
  a.out = out.data;
  a.ldo = out.cols;
  Timed t(*this, "gpu encoder attention");
  launch([=, this] { check(cuda::encoder_attention(a, stream_), "encoder_attention kernel"); }, "encoder_attention",
         a.q, a.k, a.v, a.ldq, a.ldk, a.ldv, a.n_head, a.head_dim, a.tiles, a.n_tiles, a.out, a.ldo);
}

}  // namespace hayate::cuda
