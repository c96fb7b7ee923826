#include "compress/model_logits.h"

#include <algorithm>
#include <cstring>

#include "backend/registry.h"
#include "compress/hash.h"
#include "core/error.h"
#include "forward/forward.h"
#include "quant/quant.h"

namespace hayate::compress {
namespace {

constexpr int32_t kBlockSize = 16;
// Backends whose logits do not depend on the batch (docs/ARCHITECTURE.md, "Tiled kernels and
// batch invariance"); any other codes in lockstep, the schedule decompression has to follow.
constexpr std::string_view kBatchInvariant[] = {"cpu", "reference"};
// Logit rows of one step, at most: 64 MiB of floats.
constexpr int64_t kMaxLogitFloats = int64_t{16} << 20;
constexpr uint64_t kFullHashBytes = uint64_t{1} << 30;
constexpr uint64_t kSamples = 64, kSampleBytes = 4096;

void hash_weight(Hasher& h, const Weight& w, bool sample) {
  h.add(w.name);
  h.add_u64(static_cast<uint64_t>(w.type));
  h.add_u64(static_cast<uint64_t>(w.rows));
  h.add_u64(static_cast<uint64_t>(w.cols));
  const size_t bytes = w.row_bytes() * static_cast<size_t>(w.rows);
  if (!sample || bytes <= kSamples * kSampleBytes) {
    h.add(w.data, bytes);
    return;
  }
  const size_t stride = (bytes - kSampleBytes) / (kSamples - 1);
  for (uint64_t i = 0; i < kSamples; ++i) h.add(static_cast<const uint8_t*>(w.data) + i * stride, kSampleBytes);
}

uint64_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

}  // namespace

uint32_t model_fingerprint(const Model& model, const Alphabet& alphabet) {
  const HParams& hp = model.hp;
  Hasher h;
  h.add(hp.arch);
  for (int32_t v : {hp.n_vocab, hp.n_embd, hp.n_layer, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_rot, hp.n_ff})
    h.add_u64(static_cast<uint64_t>(v));
  h.add_u64(static_cast<uint64_t>(hp.rope_type));
  for (float f : {hp.rms_eps, hp.rope_theta, hp.rope_freq_scale}) h.add_u64(float_bits(f));
  h.add_u64(alphabet.hash());
  const bool sample = model.weight_bytes() > kFullHashBytes;
  for_each_weight(model, [&](const Weight& w, WeightKind) { hash_weight(h, w, sample); });
  if (model.rope_freqs) hash_weight(h, model.rope_freqs, false);
  const uint64_t d = h.digest();
  return static_cast<uint32_t>(d ^ (d >> 32));
}

std::string compute_path_of(const Backend& backend) {
  std::string path = backend.name();
  if (const std::string device = backend.device_name(); !device.empty()) path += " on " + device;
  const BackendInfo* info = find_backend(backend.name());
  if (!info || !info->on_device)
    path += quant::scalar_kernels_forced() ? " (scalar kernels)" : " (" + quant::cpu_features() + ")";
  return path;
}

ModelLogits::ModelLogits(const Model& model, Backend& backend, const Alphabet& alphabet,
                         const ModelLogitsOptions& options)
    : model_(model), backend_(backend) {
  if (alphabet.n_tokens() != model.hp.n_vocab)
    fail(ErrorKind::BadInput, "the tokenizer has " + std::to_string(alphabet.n_tokens()) + " tokens but the model " +
                                  std::to_string(model.hp.n_vocab));
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(model.hp.n_ctx_train, 4096);
  if (n_ctx_ < 2 || n_ctx_ > model.hp.n_ctx_train)
    fail(ErrorKind::BadInput, "context size " + std::to_string(n_ctx_) + " is outside 2.." +
                                  std::to_string(model.hp.n_ctx_train) + " (the model's trained context)");
  const int64_t by_memory = std::max<int64_t>(1, kMaxLogitFloats / std::max(1, model.hp.n_vocab));
  max_step_tokens_ = static_cast<int32_t>(std::min<int64_t>(std::max(1, options.max_step_tokens), by_memory));
  const int32_t n_seq = std::clamp(options.max_sequences, 1, max_step_tokens_);
  blocks_per_seq_ = (n_ctx_ + kBlockSize - 1) / kBlockSize;
  kv_ = backend.make_kv_cache(model.hp, blocks_per_seq_ * n_seq, kBlockSize);
  positions_.assign(static_cast<size_t>(n_seq), 0);
  invariant_ =
      std::find(std::begin(kBatchInvariant), std::end(kBatchInvariant), backend.name()) != std::end(kBatchInvariant);
  model_id_ = model_fingerprint(model, alphabet);
  compute_path_ = compute_path_of(backend);
  const uint64_t c = [&] {
    Hasher h;
    h.add(compute_path_);
    return h.digest();
  }();
  compute_id_ = static_cast<uint16_t>(c ^ (c >> 16) ^ (c >> 32) ^ (c >> 48));
}

void ModelLogits::reset(int32_t seq) { positions_.at(static_cast<size_t>(seq)) = 0; }

std::vector<float> ModelLogits::step(std::span<const FeedPart> parts) {
  Batch batch;
  int64_t n_tokens = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FeedPart& p = parts[i];
    int32_t& pos = positions_.at(static_cast<size_t>(p.seq));
    if (p.tokens.empty() || pos + static_cast<int64_t>(p.tokens.size()) > n_ctx_)
      fail(ErrorKind::Internal, "compress: sequence " + std::to_string(p.seq) + " would pass its context");
    BatchSequence s;
    for (int32_t b = 0; b < blocks_per_seq_; ++b) s.block_table.push_back(p.seq * blocks_per_seq_ + b);
    batch.sequences.push_back(std::move(s));
    for (size_t t = 0; t < p.tokens.size(); ++t)
      batch.add(p.tokens[t], pos + static_cast<int32_t>(t), static_cast<int32_t>(i),
                p.all_logits || t + 1 == p.tokens.size());
    pos += static_cast<int32_t>(p.tokens.size());
    n_tokens += static_cast<int64_t>(p.tokens.size());
  }
  if (n_tokens > max_step_tokens_)
    fail(ErrorKind::Internal,
         "compress: a step of " + std::to_string(n_tokens) + " tokens, over " + std::to_string(max_step_tokens_));
  return forward(model_, batch, *kv_, backend_);
}

}  // namespace hayate::compress
