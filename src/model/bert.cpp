#include "model/bert.h"

#include "core/error.h"
#include "quant/quant.h"

namespace hayate {
namespace {

int32_t count(const gguf::File& f, const std::string& key, bool required, int32_t fallback = 0) {
  const gguf::Value* v = f.find(key);
  if (v == nullptr) {
    if (required) fail(ErrorKind::BadInput, f.name() + ": required key " + key + " is missing");
    return fallback;
  }
  const int64_t n = v->as_i64(f.name() + ": " + key);
  if (n < 0 || n > (1 << 24))
    fail(ErrorKind::BadInput, f.name() + ": " + key + " = " + std::to_string(n) + " is out of range");
  return static_cast<int32_t>(n);
}

// A view of the tensor, checked against the expected shape {cols, rows} (rows 0: a vector, copied
// to f32 into `vectors`, which the backend operations read biases and norms as).
Weight read(const gguf::File& f, const std::string& name, int64_t cols, int64_t rows, bool required,
            std::vector<std::vector<float>>& vectors) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) {
    if (required) fail(ErrorKind::BadInput, f.name() + ": tensor " + name + " is missing");
    return {};
  }
  const bool vector = rows == 0;
  if (t->cols() != cols || (vector ? t->shape.size() != 1 : (t->shape.size() != 2 || t->rows() != rows)))
    fail(ErrorKind::BadInput, f.name() + ": tensor " + name + " has the wrong shape (expected {" +
                                  std::to_string(cols) + (vector ? "" : ", " + std::to_string(rows)) + "})");
  if (quant::traits(t->type) == nullptr || quant::traits(t->type)->to_float == nullptr)
    fail(ErrorKind::Unsupported, f.name() + ": tensor " + name + " has type " + ggml_type_name(t->type) +
                                     ", which this build cannot read; use " + quant::weight_type_names());
  Weight w{name, t->type, cols, vector ? 1 : rows, t->data};
  if (vector) {
    std::vector<float>& v = vectors.emplace_back(static_cast<size_t>(cols));
    quant::dequantize_row(t->type, t->data, v.data(), cols);
    w.type = GgmlType::F32;
    w.data = v.data();
  }
  return w;
}

}  // namespace

std::vector<float> to_floats(const Weight& w) {
  std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) quant::dequantize_row(w.type, w.row(r), out.data() + r * w.cols, w.cols);
  return out;
}

void row_to_floats(const Weight& w, int64_t row, float* out) { quant::dequantize_row(w.type, w.row(row), out, w.cols); }

bool is_bert_file(const gguf::File& file) { return file.get_string("general.architecture", "") == "bert"; }

std::unique_ptr<BertModel> BertModel::load(const gguf::File& f) {
  if (!is_bert_file(f))
    fail(ErrorKind::BadInput,
         f.name() + ": general.architecture is '" + f.get_string("general.architecture", "") + "', not bert");
  auto m = std::make_unique<BertModel>();
  m->source = f.name();
  BertHParams& hp = m->hp;
  hp.n_embd = count(f, "bert.embedding_length", true);
  hp.n_layer = count(f, "bert.block_count", true);
  hp.n_head = count(f, "bert.attention.head_count", true);
  hp.n_ff = count(f, "bert.feed_forward_length", true);
  hp.eps = static_cast<float>(f.get_f64("bert.attention.layer_norm_epsilon", 1e-12));
  if (f.get_bool("bert.attention.causal", false))
    fail(ErrorKind::Unsupported, f.name() + ": bert.attention.causal is true; a BERT encoder attends both ways");
  const int32_t pooling = count(f, "bert.pooling_type", false, static_cast<int32_t>(Pooling::Mean));
  if (pooling != static_cast<int32_t>(Pooling::Mean) && pooling != static_cast<int32_t>(Pooling::Cls) &&
      pooling != static_cast<int32_t>(Pooling::Rank))
    fail(ErrorKind::Unsupported,
         f.name() + ": bert.pooling_type " + std::to_string(pooling) + " is not supported (1 mean, 2 cls, 4 rank are)");
  hp.pooling = static_cast<Pooling>(pooling);
  hp.normalize = f.get_bool("bert.embedding.normalize", true);
  if (hp.n_embd % hp.n_head != 0)
    fail(ErrorKind::BadInput, f.name() + ": embedding_length " + std::to_string(hp.n_embd) +
                                  " is not a multiple of head_count " + std::to_string(hp.n_head));

  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->shape.size() != 2)
    fail(ErrorKind::BadInput, f.name() + ": tensor token_embd.weight is missing or not 2-D");
  hp.n_vocab = static_cast<int32_t>(embd->rows());
  const gguf::TensorInfo* pos = f.find_tensor("position_embd.weight");
  if (pos == nullptr || pos->shape.size() != 2)
    fail(ErrorKind::BadInput, f.name() + ": tensor position_embd.weight is missing or not 2-D");
  hp.n_ctx_train = static_cast<int32_t>(pos->rows());
  const gguf::TensorInfo* types = f.find_tensor("token_types.weight");
  hp.n_token_types = types ? static_cast<int32_t>(types->rows()) : 0;

  const int64_t e = hp.n_embd, ff = hp.n_ff;
  auto get = [&](const std::string& name, int64_t cols, int64_t rows) {
    return read(f, name, cols, rows, true, m->vectors_);
  };
  // name.weight of `out` rows of `in`, and name.bias.
  auto linear = [&](const std::string& name, int64_t in, int64_t out, Weight& w, Weight& b) {
    w = get(name + ".weight", in, out);
    b = get(name + ".bias", out, 0);
  };
  auto norm = [&](const std::string& name, Weight& w, Weight& b) {
    w = get(name + ".weight", e, 0);
    b = get(name + ".bias", e, 0);
  };
  m->tok_embd = get("token_embd.weight", e, hp.n_vocab);
  m->pos_embd = get("position_embd.weight", e, hp.n_ctx_train);
  if (types) m->type_embd = get("token_types.weight", e, hp.n_token_types);
  norm("token_embd_norm", m->embd_norm, m->embd_norm_b);
  for (int32_t i = 0; i < hp.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    BertLayer l;
    linear(p + "attn_q", e, e, l.wq, l.bq);
    linear(p + "attn_k", e, e, l.wk, l.bk);
    linear(p + "attn_v", e, e, l.wv, l.bv);
    linear(p + "attn_output", e, e, l.wo, l.bo);
    norm(p + "attn_output_norm", l.attn_norm, l.attn_norm_b);
    linear(p + "ffn_up", e, ff, l.ffn_up, l.ffn_up_b);
    linear(p + "ffn_down", ff, e, l.ffn_down, l.ffn_down_b);
    norm(p + "layer_output_norm", l.out_norm, l.out_norm_b);
    m->layers.push_back(std::move(l));
  }
  if (m->is_reranker()) {
    linear("cls", e, e, m->cls, m->cls_b);
    const gguf::TensorInfo* out = f.find_tensor("cls.output.weight");
    if (out == nullptr || out->shape.size() != 2 || out->rows() < 1)
      fail(ErrorKind::BadInput, f.name() + ": a reranker (pooling_type 4) needs tensor cls.output.weight");
    linear("cls.output", e, out->rows(), m->cls_out, m->cls_out_b);
  }
  return m;
}

void BertModel::for_each_weight(const std::function<void(const Weight&, WeightKind)>& f) const {
  f(tok_embd, WeightKind::Table);
  f(pos_embd, WeightKind::Table);
  if (type_embd) f(type_embd, WeightKind::Table);
  f(embd_norm, WeightKind::Norm);
  f(embd_norm_b, WeightKind::Bias);
  for (const BertLayer& l : layers) {
    for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_up, &l.ffn_down}) f(*w, WeightKind::Matrix);
    for (const Weight* w : {&l.bq, &l.bk, &l.bv, &l.bo, &l.ffn_up_b, &l.ffn_down_b, &l.attn_norm_b, &l.out_norm_b})
      f(*w, WeightKind::Bias);
    for (const Weight* w : {&l.attn_norm, &l.out_norm}) f(*w, WeightKind::Norm);
  }
  if (cls) f(cls, WeightKind::Matrix);
  if (cls_b) f(cls_b, WeightKind::Bias);
  if (cls_out) f(cls_out, WeightKind::Matrix);
  if (cls_out_b) f(cls_out_b, WeightKind::Bias);
}

}  // namespace hayate
