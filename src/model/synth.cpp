#include "model/synth.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "model/synth_rng.h"
#include "quant/mix.h"
#include "quant/quant.h"

namespace hayate {
namespace {

using Rng = SynthRng;

uint64_t name_hash(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// GPT-2's reversible map from bytes to printable characters, as UTF-8 strings.
std::vector<std::string> byte_tokens() {
  std::vector<int> printable;
  for (int b = '!'; b <= '~'; ++b) printable.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) printable.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) printable.push_back(b);
  std::vector<int> code(256, -1);
  for (int b : printable) code[b] = b;
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    if (code[b] < 0) code[b] = 256 + extra++;
  std::vector<std::string> out;
  for (int b = 0; b < 256; ++b) {
    const int c = code[b];
    std::string s;
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    out.push_back(s);
  }
  return out;
}

// A self-contained byte-level tokenizer: 256 byte tokens and a few chat specials.
void add_builtin_tokenizer(gguf::Writer& w, int32_t& n_vocab) {
  std::vector<std::string> tokens = byte_tokens();
  std::vector<int32_t> types(tokens.size(), 1);
  for (const char* special : {"<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"}) {
    tokens.emplace_back(special);
    types.push_back(3);
  }
  n_vocab = static_cast<int32_t>(tokens.size());
  w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  w.set("tokenizer.ggml.pre", gguf::Value::string("gpt2"));
  w.set("tokenizer.ggml.tokens", gguf::Value::string_array(tokens));
  w.set("tokenizer.ggml.token_type", gguf::Value::i32_array(types));
  w.set("tokenizer.ggml.merges", gguf::Value::string_array({}));
  w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(256));
  w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(259));
  w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(true));
  w.set("tokenizer.chat_template",
        gguf::Value::string(
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
            "+ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' "
            "}}{% endif %}"));
}

int32_t copy_tokenizer(const std::string& path, gguf::Writer& w) {
  auto f = gguf::File::open(path);
  int32_t n = 0;
  for (const auto& [key, value] : f->metadata()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    w.set(key, value);
    if (key == "tokenizer.ggml.tokens") n = static_cast<int32_t>(value.as_array(path + ": " + key).size());
  }
  if (n == 0) fail(ErrorKind::BadInput, path + ": has no tokenizer.ggml.tokens to copy");
  return n;
}

struct TensorPlan {
  std::string name;
  int64_t cols, rows;  // rows 0: a vector
  int layer;
  WeightKind kind;      // Norm: around 1; Table, Matrix: 1/sqrt(fan-in) scale; Bias: small
  int64_t experts = 0;  // > 0: a stack of that many matrices
};

}  // namespace

void synth_model(const SynthOptions& o, const std::string& path, std::ostream& log) {
  const ArchSpec* spec = find_arch(o.arch);
  if (!spec) fail(ErrorKind::Unsupported, "synth: unknown architecture '" + o.arch + "'");
  const auto ft = quant::file_type_from_name(o.file_type);
  if (!ft)
    fail(ErrorKind::BadInput,
         "synth: unknown file type '" + o.file_type + "' (choose one of: " + quant::file_type_names() + ")");
  if (o.n_embd <= 0 || o.n_layer <= 0 || o.n_head <= 0 || o.n_head_kv <= 0 || o.n_ff <= 0 || o.n_ctx <= 0)
    fail(ErrorKind::BadInput, "synth: every dimension must be positive");
  if (o.n_head % o.n_head_kv != 0) fail(ErrorKind::BadInput, "synth: heads must be a multiple of KV heads");
  const int32_t head_dim = o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head;
  if (o.head_dim <= 0 && o.n_embd % o.n_head != 0)
    fail(ErrorKind::BadInput, "synth: n_embd must be a multiple of heads");
  if (head_dim % 2 != 0) fail(ErrorKind::BadInput, "synth: head size must be even");

  gguf::Writer w;
  int32_t n_vocab = 0;
  if (o.vocab_from.empty())
    add_builtin_tokenizer(w, n_vocab);
  else
    n_vocab = copy_tokenizer(o.vocab_from, w);
  if (o.n_vocab > 0) {
    if (o.n_vocab < n_vocab) fail(ErrorKind::BadInput, "synth: n_vocab is smaller than the tokenizer's vocabulary");
    n_vocab = o.n_vocab;
  }

  const std::string a = o.arch;
  const std::string name = !o.name.empty() ? o.name
                                           : a + "-random-" + std::to_string(o.n_embd) + "x" +
                                                 std::to_string(o.n_layer) + " (random weights)";
  w.set("general.architecture", gguf::Value::string(a));
  w.set("general.name", gguf::Value::string(name));
  w.set("general.file_type", gguf::Value::u32(quant::file_type_gguf_id(*ft)));
  w.set("general.quantization_version", gguf::Value::u32(2));
  w.set(a + ".context_length", gguf::Value::u32(static_cast<uint32_t>(o.n_ctx)));
  w.set(a + ".embedding_length", gguf::Value::u32(static_cast<uint32_t>(o.n_embd)));
  w.set(a + ".block_count", gguf::Value::u32(static_cast<uint32_t>(o.n_layer)));
  w.set(a + ".feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(o.n_ff)));
  w.set(a + ".attention.head_count", gguf::Value::u32(static_cast<uint32_t>(o.n_head)));
  w.set(a + ".attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(o.n_head_kv)));
  w.set(a + ".attention.key_length", gguf::Value::u32(static_cast<uint32_t>(head_dim)));
  w.set(a + ".attention.value_length", gguf::Value::u32(static_cast<uint32_t>(head_dim)));
  w.set(a + ".rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(head_dim)));
  w.set(a + ".attention.layer_norm_rms_epsilon", gguf::Value::f32(o.rms_eps));
  w.set(a + ".rope.freq_base", gguf::Value::f32(o.rope_theta));
  w.set(a + ".vocab_size", gguf::Value::u32(static_cast<uint32_t>(n_vocab)));
  if (o.sliding_window < 0) fail(ErrorKind::BadInput, "synth: sliding_window must be 0 (none) or positive");
  if (o.sliding_window > 0)
    w.set(a + ".attention.sliding_window", gguf::Value::u32(static_cast<uint32_t>(o.sliding_window)));
  if (!o.swa_pattern.empty()) {
    std::vector<gguf::Value> pattern;
    for (const bool b : o.swa_pattern) pattern.push_back(gguf::Value::boolean(b));
    w.set(a + ".attention.sliding_window_pattern", gguf::Value::array(gguf::ValueType::Bool, std::move(pattern)));
  }
  if (o.rope_theta_swa > 0) w.set(a + ".rope.freq_base_swa", gguf::Value::f32(o.rope_theta_swa));
  if (o.attn_scale > 0) w.set(a + ".attention.scale", gguf::Value::f32(o.attn_scale));
  // LongRoPE's divisors: short ones near 1, long ones growing with the frequency index.
  auto long_factors = std::make_shared<std::vector<float>>(), short_factors = std::make_shared<std::vector<float>>();
  if (o.long_rope_original > 0) {
    w.set(a + ".rope.scaling.original_context_length", gguf::Value::u32(static_cast<uint32_t>(o.long_rope_original)));
    for (int32_t i = 0; i < head_dim / 2; ++i) {
      short_factors->push_back(1.0f + 0.05f * static_cast<float>(i));
      long_factors->push_back(1.0f + 0.5f * static_cast<float>(i));
    }
    for (const auto& [tname, values] :
         {std::pair{"rope_factors_long.weight", long_factors}, std::pair{"rope_factors_short.weight", short_factors}})
      w.add_tensor(tname, GgmlType::F32, {static_cast<int64_t>(values->size())}, values->data());
  }
  const int32_t n_ff_exp = o.n_ff_exp > 0 ? o.n_ff_exp : o.n_ff;
  if (o.n_expert < 0 || (o.n_expert > 0 && (o.n_expert_used <= 0 || o.n_expert_used > o.n_expert)))
    fail(ErrorKind::BadInput, "synth: experts must be 0 (none) or positive, with 1 to that many used per token");
  if (o.n_expert > 0 && spec->experts == Experts::None)
    fail(ErrorKind::BadInput, "synth: architecture '" + o.arch + "' has no mixture-of-experts layers");
  if (o.n_expert == 0 && spec->experts == Experts::Required)
    fail(ErrorKind::BadInput, "synth: architecture '" + o.arch + "' needs experts (--experts N)");
  if (o.n_expert > 0) {
    w.set(a + ".expert_count", gguf::Value::u32(static_cast<uint32_t>(o.n_expert)));
    w.set(a + ".expert_used_count", gguf::Value::u32(static_cast<uint32_t>(o.n_expert_used)));
    w.set(a + ".expert_feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(n_ff_exp)));
  }

  HParams hp;  // what the layer's weight list depends on
  apply_arch(*spec, hp);
  hp.n_embd = o.n_embd;
  hp.n_head = o.n_head;
  hp.n_head_kv = o.n_head_kv;
  hp.head_dim = head_dim;
  hp.n_ff = o.n_ff;
  hp.n_expert = o.n_expert;
  hp.n_ff_exp = n_ff_exp;
  std::vector<TensorPlan> plan;
  plan.push_back({"token_embd.weight", o.n_embd, n_vocab, -1, WeightKind::Table});
  for (int l = 0; l < o.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for_each_weight(hp, [&](const WeightSpec& w) {
      if (w.required) plan.push_back({p + w.suffix, w.cols, w.rows, l, w.kind, w.experts});
    });
  }
  plan.push_back({"output_norm.weight", o.n_embd, 0, -1, WeightKind::Norm});
  if (!o.tie_embeddings) plan.push_back({"output.weight", o.n_embd, n_vocab, -1, WeightKind::Matrix});

  for (const TensorPlan& t : plan) {
    const bool vector = t.rows == 0;
    const GgmlType type =
        vector ? GgmlType::F32 : quant::choose_tensor_type(*ft, t.name, t.layer, o.n_layer, t.cols, 2);
    const int64_t rows = vector ? 1 : t.rows * std::max<int64_t>(t.experts, 1);
    std::vector<int64_t> shape = vector ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.cols, t.rows};
    if (t.experts > 0) shape.push_back(t.experts);
    const uint64_t seed = name_hash(t.name, o.seed);
    // Scale 1/sqrt(fan-in) keeps activations of a random network in a sane range.
    const bool matrix = t.kind == WeightKind::Matrix || t.kind == WeightKind::Table;
    const float scale = matrix ? 1.0f / std::sqrt(static_cast<float>(t.cols)) : 0.02f;
    const bool norm = t.kind == WeightKind::Norm;
    const int64_t cols = t.cols;
    w.add_tensor(t.name, type, shape, [=](uint8_t* dst, size_t) {
      Rng rng{seed};
      std::vector<float> row(static_cast<size_t>(cols));
      const size_t row_bytes = ggml_row_size(type, cols);
      for (int64_t r = 0; r < rows; ++r) {
        for (auto& v : row) v = (norm ? 1.0f : 0.0f) + scale * rng.normal();
        quant::quantize_row(type, row.data(), dst + r * row_bytes, cols);
      }
    });
  }
  log << "synth: writing " << name << " (" << o.arch << ", " << plan.size() << " tensors, " << o.file_type << ") to "
      << path << "\n";
  w.write(path);
}

}  // namespace hayate
