// A BERT-family encoder (GGUF general.architecture "bert", as llama.cpp writes BertModel,
// XLMRobertaModel and their sequence-classification heads): learned absolute positions and token
// types, post-norm layers with LayerNorm (weight and bias), GELU (erf), bidirectional attention,
// and a pooling rule. Embedding models pool (mean or CLS); a cross-encoder (pooling "rank") runs
// the pooler dense + tanh over the first token and a classifier to one score.
//
// The matrices and tables are views into the file (any type with a dequantizer: f32, f16, Q8_0,
// ...), run by the backend's kernels (forward/encoder.h); the vectors (biases, LayerNorm) are
// copied to f32 at load, as the backend operations read them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "model/model.h"

namespace hayate {

// llama.cpp's bert.pooling_type values.
enum class Pooling : int32_t { None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };

struct BertHParams {
  int32_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0;
  int32_t n_ctx_train = 0;  // rows of position_embd
  int32_t n_token_types = 0;
  float eps = 1e-12f;
  Pooling pooling = Pooling::Mean;
  bool normalize = true;  // L2-normalise the pooled vector (sentence-transformers' Normalize)
  int32_t head_dim() const { return n_embd / n_head; }
};

struct BertLayer {
  Weight wq, bq, wk, bk, wv, bv, wo, bo;
  Weight attn_norm, attn_norm_b;  // after attention + residual
  Weight ffn_up, ffn_up_b, ffn_down, ffn_down_b;
  Weight out_norm, out_norm_b;  // after the feed-forward + residual
};

struct BertModel {
  BertHParams hp;
  std::string source;  // the file's name, for messages
  Weight tok_embd, type_embd, pos_embd, embd_norm, embd_norm_b;
  std::vector<BertLayer> layers;
  Weight cls, cls_b, cls_out, cls_out_b;  // the cross-encoder's pooler and classifier (rank)

  // Error(BadInput) naming a missing or misshapen tensor or key; Error(Unsupported) for a type
  // with no dequantizer or a pooling this build does not do. `file` must outlive the model.
  static std::unique_ptr<BertModel> load(const gguf::File& file);
  // Every weight, with how the backend operations read it (as for_each_weight of a decoder).
  void for_each_weight(const std::function<void(const Weight&, WeightKind)>& f) const;

  bool is_reranker() const { return hp.pooling == Pooling::Rank; }

 private:
  std::vector<std::vector<float>> vectors_;  // the f32 copies the vector Weights point into
};

// The weight's values as floats, row-major (the oracle of forward/encoder_oracle.h reads them so).
std::vector<float> to_floats(const Weight& w);
void row_to_floats(const Weight& w, int64_t row, float* out);  // w.cols values

// Whether `file` holds an encoder this loader reads (general.architecture "bert").
bool is_bert_file(const gguf::File& file);

}  // namespace hayate
