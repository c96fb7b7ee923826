// The split backend's bookkeeping: its parts' weights and KV caches. The step itself is in
// forward.cpp, with the layers.
#include "forward/split.h"

#include "core/error.h"

namespace hayate {

SplitBackend::SplitBackend(std::vector<LayerRange> ranges) : ranges_(std::move(ranges)) {
  if (ranges_.empty()) fail(ErrorKind::BadInput, "split backend: no layer ranges");
  int32_t next = 0;
  for (const LayerRange& r : ranges_) {
    if (!r.backend) fail(ErrorKind::BadInput, "split backend: a layer range has no backend");
    if (r.begin != next || r.end < r.begin)
      fail(ErrorKind::BadInput, "split backend: layer ranges must follow each other from layer 0 (got [" +
                                    std::to_string(r.begin) + ", " + std::to_string(r.end) + ") after layer " +
                                    std::to_string(next) + ")");
    next = r.end;
  }
}

std::string SplitBackend::name() const {
  std::string out;
  for (const LayerRange& r : ranges_) {
    if (!out.empty()) out += '+';
    out += r.backend->name();
    out += '[' + std::to_string(r.begin) + ',' + std::to_string(r.end) + ')';
  }
  return out;
}

void SplitBackend::prepare(const Model& model) {
  if (model.hp.n_layer != n_layer())
    fail(ErrorKind::BadInput, "split backend: the ranges cover " + std::to_string(n_layer()) +
                                  " layers, the model has " + std::to_string(model.hp.n_layer));
  parts_.clear();
  parts_.reserve(ranges_.size());
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const LayerRange& r = ranges_[i];
    // A model of views with only this part's weights (null Weights are skipped by prepare); a
    // tied head is the embedding table again, so the last part gets it as its output matrix.
    Model part;
    part.hp = model.hp;
    part.hp.n_layer = r.end - r.begin;
    if (i == 0) part.tok_embd = model.tok_embd;
    if (i + 1 == ranges_.size()) {
      part.output_norm = model.output_norm;
      part.output = model.output;
    }
    part.rope_freqs = model.rope_freqs;
    part.layers.assign(model.layers.begin() + r.begin, model.layers.begin() + r.end);
    r.backend->prepare(part);
    parts_.push_back(std::move(part));
  }
}

std::unique_ptr<KvCache> SplitBackend::make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) {
  if (hp.n_layer != n_layer())
    fail(ErrorKind::BadInput, "split backend: a KV cache for " + std::to_string(hp.n_layer) +
                                  " layers, but the ranges cover " + std::to_string(n_layer()));
  auto kv = std::make_unique<SplitKvCache>();
  for (const LayerRange& r : ranges_) {
    if (r.begin == r.end) {
      kv->parts.push_back(nullptr);
      continue;
    }
    HParams part = hp;
    part.n_layer = r.end - r.begin;
    if (!hp.swa_layers.empty()) part.swa_layers.assign(hp.swa_layers.begin() + r.begin, hp.swa_layers.begin() + r.end);
    kv->parts.push_back(r.backend->make_kv_cache(part, n_blocks, block_size));
    kv->bytes += kv->parts.back()->bytes;
  }
  kv->n_layer = hp.n_layer;
  kv->n_blocks = n_blocks;
  kv->block_size = block_size;
  kv->kv_dim = hp.kv_dim();
  kv->sliding_window = hp.sliding_window;
  kv->window_layers = hp.swa_layers;
  kv->backend = name();
  return kv;
}

std::vector<SplitBackend::Stage> SplitBackend::stages(KvCache& kv) {
  SplitKvCache& split = cache_of<SplitKvCache>(kv, *this);
  if (split.parts.size() != ranges_.size())
    fail(ErrorKind::Internal, "split backend: the KV cache has " + std::to_string(split.parts.size()) + " parts for " +
                                  std::to_string(ranges_.size()) + " layer ranges");
  std::vector<Stage> out;
  for (size_t i = 0; i < ranges_.size(); ++i)
    out.push_back({ranges_[i].backend.get(), split.parts[i].get(), ranges_[i].begin, ranges_[i].end});
  return out;
}

uint64_t SplitBackend::device_memory_bytes() const {
  uint64_t sum = 0;
  for (const LayerRange& r : ranges_) sum += r.backend->device_memory_bytes();
  return sum;
}

std::string SplitBackend::device_name() const {
  std::string out;
  for (const LayerRange& r : ranges_) {
    const std::string d = r.backend->device_name();
    if (d.empty() || out.find(d) != std::string::npos) continue;
    if (!out.empty()) out += '+';
    out += d;
  }
  return out;
}

void SplitBackend::reset_scratch() {
  for (const LayerRange& r : ranges_) r.backend->reset_scratch();
}

void SplitBackend::store_kv(KvCache&, int32_t, Tensor, Tensor, const Batch&) {
  fail(ErrorKind::Internal, "split backend: store_kv addresses one backend's cache; run layers through forward()");
}

void SplitBackend::attention(KvCache&, int32_t, Tensor, const Batch&, int32_t, int32_t, int32_t, Tensor) {
  fail(ErrorKind::Internal, "split backend: attention addresses one backend's cache; run layers through forward()");
}

}  // namespace hayate
