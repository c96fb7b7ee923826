// Runs a ClipModel: patch embedding (the convolution as one matmul over flattened patches), class
// token, learned positions, pre-LayerNorm, pre-norm blocks (LayerNorm, multi-head attention with
// biases, GELU or quick-GELU MLP), the selected layer's patch rows (the class token dropped, as
// LLaVA's "default" select strategy does) and the MLP projector.
//
// Every matmul goes through the Backend, so the encoder runs on the same kernels as the language
// model, CPU or CUDA. The residual stream and the row-wise steps (LayerNorm, GELU, the
// bidirectional attention over a few hundred positions) stay on the host: the Backend interface
// has no LayerNorm and its attention is causal over a paged cache, and those steps cost little
// next to the matmuls. The encoder resets the backend's scratch, so give it a backend no one else
// is using at the same time (not the engine's while a step runs).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/thread_pool.h"
#include "vision/clip.h"

namespace hayate::vision {

class ClipEncoder {
 public:
  // Makes every weight usable by `backend` (prepare_weight); both must outlive the encoder.
  // n_threads: threads for the host attention (0: all hardware threads).
  ClipEncoder(const ClipModel& model, Backend& backend, int n_threads = 0);

  // The selected layer's hidden states of the patches: n_patches x n_embd, row-major.
  // `chw`: 3 x height x width floats, already rescaled and normalised; the image must be the
  // model's square size (Error(BadInput) saying which size otherwise).
  std::vector<float> features(std::span<const float> chw, int width, int height);
  // features -> n_patches x proj_dim: what takes the place of the image's placeholder tokens.
  std::vector<float> project(std::span<const float> features);
  std::vector<float> embed(std::span<const float> chw, int width, int height) {
    return project(features(chw, width, height));
  }

 private:
  Tensor upload(std::span<const float> host, int64_t rows, int64_t cols);
  std::vector<float> download(Tensor t);
  std::vector<float> linear(const Weight& w, const Weight& b, std::span<const float> x, int64_t rows);
  void block(const ClipLayer& l, std::vector<float>& x);

  const ClipModel& m_;
  Backend& be_;
  ThreadPool pool_;
};

// The encoder's host steps, exposed for tests.
void layer_norm(std::span<float> x, int64_t cols, const float* w, const float* b, float eps);
void gelu(std::span<float> x);        // 0.5 x (1 + erf(x / sqrt 2)), as torch's exact GELU
void quick_gelu(std::span<float> x);  // x * sigmoid(1.702 x), CLIP's activation
// Bidirectional multi-head attention of n rows of q, k, v (n x n_head*head_dim each) -> out.
void full_attention(const float* q, const float* k, const float* v, float* out, int64_t n, int32_t n_head,
                    int32_t head_dim, ThreadPool& pool);

}  // namespace hayate::vision
