// A BERT-family encoder (GGUF general.architecture "bert", as llama.cpp writes BertModel,
// XLMRobertaModel and their sequence-classification heads): learned absolute positions and token
// types, post-norm layers with LayerNorm (weight and bias), GELU (erf), bidirectional attention,
// and a pooling rule. Embedding models pool (mean or CLS); a cross-encoder (pooling "rank") runs
// the pooler dense + tanh over the first token and a classifier to one score.
//
// The weights are dequantized to float at load: encoders are small, and the pass over them
// (forward/encoder.h) stays plain code.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"

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

// A matrix of rows x cols floats (GGUF shape {cols, rows}), or a vector (rows 1).
struct Dense {
  int64_t rows = 0, cols = 0;
  std::vector<float> w;
  explicit operator bool() const { return !w.empty(); }
};

struct BertLayer {
  Dense wq, bq, wk, bk, wv, bv, wo, bo;
  Dense attn_norm, attn_norm_b;  // after attention + residual
  Dense ffn_up, ffn_up_b, ffn_down, ffn_down_b;
  Dense out_norm, out_norm_b;  // after the feed-forward + residual
};

struct BertModel {
  BertHParams hp;
  std::string source;  // the file's name, for messages
  Dense tok_embd, type_embd, pos_embd, embd_norm, embd_norm_b;
  std::vector<BertLayer> layers;
  Dense cls, cls_b, cls_out, cls_out_b;  // the cross-encoder's pooler and classifier (rank)

  // Error(BadInput) naming a missing or misshapen tensor or key; Error(Unsupported) for a type
  // with no dequantizer or a pooling this build does not do.
  static std::unique_ptr<BertModel> load(const gguf::File& file);
  bool is_reranker() const { return hp.pooling == Pooling::Rank; }
};

// Whether `file` holds an encoder this loader reads (general.architecture "bert").
bool is_bert_file(const gguf::File& file);

}  // namespace hayate
