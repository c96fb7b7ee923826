// The tensor-parallel group's bookkeeping: the slices of the model each rank holds, their KV
// caches, the rank threads and the memory plan. The step itself is in forward.cpp, with the layers.
#include "forward/tensor_parallel.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace hayate {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

uint64_t bytes_of(const Weight& w) { return w ? w.row_bytes() * static_cast<uint64_t>(w.rows) : 0; }

// Rows [begin, end) of w: a view.
Weight rows_of(const Weight& w, int64_t begin, int64_t end) {
  if (!w) return w;
  return Weight{w.name, w.type, w.cols, end - begin, w.row(begin)};
}

// Columns [begin, end) of w, copied into `owned` (a row's columns are not contiguous rows of the
// file); begin and end fall on the format's block boundaries (check_tensor_parallel).
Weight cols_of(const Weight& w, int64_t begin, int64_t end, std::vector<std::unique_ptr<uint8_t[]>>& owned) {
  if (!w) return w;
  const size_t skip = ggml_row_size(w.type, begin);
  const size_t row = ggml_row_size(w.type, end - begin);
  auto buf = std::make_unique_for_overwrite<uint8_t[]>(row * static_cast<size_t>(w.rows));
  for (int64_t r = 0; r < w.rows; ++r) std::memcpy(buf.get() + static_cast<size_t>(r) * row, w.row(r) + skip, row);
  Weight out{w.name, w.type, end - begin, w.rows, buf.get()};
  owned.push_back(std::move(buf));
  return out;
}

// The weights a rank holds a 1/n share of; the others (norms) every rank holds whole.
bool is_sliced(Weight LayerWeights::*m) {
  for (auto s :
       {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::bq, &LayerWeights::bk,
        &LayerWeights::bv, &LayerWeights::wo, &LayerWeights::ffn_gate, &LayerWeights::ffn_up, &LayerWeights::ffn_down})
    if (m == s) return true;
  return false;
}

HParams rank_hparams(const HParams& hp, int32_t n) {
  HParams part = hp;
  part.n_head = hp.n_head / n;
  part.n_head_kv = hp.n_head_kv / n;
  part.n_ff = hp.n_ff / n;
  return part;
}

}  // namespace

std::string tensor_parallel_obstacle(const Model& model, int32_t n) {
  const HParams& hp = model.hp;
  const std::string tp = "--tensor-parallel " + str(n) + ": ";
  if (n < 1) return tp + "give a number of GPUs of 1 or more";
  if (hp.n_expert > 0) return tp + "the model is a mixture of experts, whose feed-forward is not split across GPUs";
  if (hp.n_head % n != 0) return tp + "the model's " + str(hp.n_head) + " attention heads do not divide into " + str(n);
  if (hp.n_head_kv % n != 0)
    return tp + "the model's " + str(hp.n_head_kv) + " KV heads do not divide into " + str(n) +
           " (each GPU must hold whole KV heads)";
  if (hp.n_ff % n != 0) return tp + "the model's FFN width " + str(hp.n_ff) + " does not divide into " + str(n);
  // The row-parallel matrices are cut across their rows, which must fall between quant blocks.
  for (size_t il = 0; il < model.layers.size(); ++il) {
    const LayerWeights& l = model.layers[il];
    for (const auto& [w, share] : {std::pair{&l.wo, hp.q_dim() / n}, std::pair{&l.ffn_down, hp.n_ff / n}}) {
      const int64_t block = ggml_type_info(w->type).block_size;
      if (*w && share % block != 0)
        return tp + "each GPU's " + str(share) + " input columns of " + w->name + " (layer " + str(int64_t(il)) +
               ") are not whole " + ggml_type_name(w->type) + " blocks of " + str(block);
    }
  }
  return {};
}

TopLogits merge_top_logits(std::span<const TopLogits> parts, std::span<const int64_t> offsets, int32_t k) {
  if (offsets.size() != parts.size() + 1)
    fail(ErrorKind::Internal, "merge_top_logits: " + str(int64_t(parts.size())) + " slices and " +
                                  str(int64_t(offsets.size())) + " offsets");
  TopLogits out;
  std::vector<std::pair<float, int32_t>> candidates;
  double max_norm = -INFINITY;
  for (size_t r = 0; r < parts.size(); ++r) {
    const TopLogits& p = parts[r];
    out.n_finite += p.n_finite;
    if (p.n_finite == 0) continue;  // only -inf: nothing to list or sum
    if (!p.ok) out.ok = false;      // NaN or +inf in this slice
    max_norm = std::max(max_norm, p.log_norm);
    for (size_t i = 0; i < p.ids.size(); ++i)
      candidates.emplace_back(p.logits[i], static_cast<int32_t>(p.ids[i] + offsets[r]));
  }
  if (out.n_finite == 0) out.ok = false;
  if (!out.ok) return out;
  double sum = 0;
  for (const TopLogits& p : parts)
    if (p.n_finite > 0) sum += std::exp(p.log_norm - max_norm);
  out.log_norm = max_norm + std::log(sum);
  const size_t n = std::min(candidates.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(
      candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(n), candidates.end(),
      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  for (size_t i = 0; i < n; ++i) {
    out.logits.push_back(candidates[i].first);
    out.ids.push_back(candidates[i].second);
  }
  return out;
}

void check_tensor_parallel(const Model& model, int32_t n) {
  if (const std::string why = tensor_parallel_obstacle(model, n); !why.empty())
    fail(model.hp.n_expert > 0 && n >= 1 ? ErrorKind::Unsupported : ErrorKind::BadInput, why);
}

int64_t vocab_offset(int64_t n_vocab, int32_t n, int32_t r) {
  const int64_t share = n_vocab / n, extra = n_vocab % n;
  return r * share + std::min<int64_t>(r, extra);
}

std::vector<RankMemory> tensor_parallel_memory(const Model& model, int32_t n, uint64_t kv_bytes_per_value) {
  const HParams& hp = model.hp;
  std::vector<RankMemory> out(static_cast<size_t>(n));
  const std::vector<WeightSpec> specs = layer_weights(hp);
  const bool tied = model.output.data == model.tok_embd.data;
  for (int32_t r = 0; r < n; ++r) {
    RankMemory& m = out[static_cast<size_t>(r)];
    const auto head_rows = static_cast<uint64_t>(vocab_offset(hp.n_vocab, n, r + 1) - vocab_offset(hp.n_vocab, n, r));
    m.weights = bytes_of(model.tok_embd) + bytes_of(model.output_norm) +
                (tied || !model.output ? 0 : model.output.row_bytes() * head_rows);
    for (const LayerWeights& l : model.layers)
      for (const WeightSpec& spec : specs) {
        const Weight& w = l.*spec.member;
        if (spec.member == &LayerWeights::bo)
          m.weights += r == 0 ? bytes_of(w) : 0;
        else
          m.weights += is_sliced(spec.member) ? bytes_of(w) / static_cast<uint64_t>(n) : bytes_of(w);
      }
    m.kv_per_position =
        2 * static_cast<uint64_t>(hp.n_layer) * static_cast<uint64_t>(hp.kv_dim() / n) * kv_bytes_per_value;
  }
  return out;
}

void print_tensor_parallel_plan(const Model& model, int32_t n, uint64_t kv_bytes_per_value, int64_t kv_positions,
                                const std::vector<std::string>& devices, std::ostream& out) {
  const std::vector<RankMemory> plan = tensor_parallel_memory(model, n, kv_bytes_per_value);
  auto mib = [](uint64_t b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%10.0f MiB", static_cast<double>(b) / (1 << 20));
    return std::string(buf);
  };
  const HParams& hp = model.hp;
  out << "tensor parallel " << n << ": each GPU " << hp.n_head / n << " of " << hp.n_head << " heads, "
      << hp.n_head_kv / n << " of " << hp.n_head_kv << " KV heads, " << hp.n_ff / n << " of " << hp.n_ff
      << " FFN columns\n"
      << "  rank  device                        weights        KV cache          total\n";
  for (int32_t r = 0; r < n; ++r) {
    const RankMemory& m = plan[static_cast<size_t>(r)];
    const uint64_t kv = m.kv_per_position * static_cast<uint64_t>(std::max<int64_t>(kv_positions, 0));
    char line[96];
    const std::string device = r < static_cast<int32_t>(devices.size()) ? devices[static_cast<size_t>(r)] : "";
    std::snprintf(line, sizeof line, "  %4d  %-26.26s", r, device.c_str());
    out << line << mib(m.weights) << mib(kv) << mib(m.weights + kv) << "\n";
  }
  out << std::flush;
}

// Persistent threads for ranks 1..n-1: a step's work is handed over, not a thread started.
struct TensorParallelBackend::Workers {
  explicit Workers(int32_t n) : errors(static_cast<size_t>(n)) {
    for (int32_t r = 1; r < n; ++r) threads.emplace_back([this, r] { loop(r); });
  }
  ~Workers() {
    {
      std::lock_guard lock(m);
      stop = true;
    }
    cv.notify_all();
    for (std::thread& t : threads) t.join();
  }
  void loop(int32_t r) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int32_t)>* fn = nullptr;
      {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
        fn = job;
      }
      std::exception_ptr error;
      try {
        (*fn)(r);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard lock(m);
      errors[static_cast<size_t>(r)] = error;
      if (--pending == 0) done.notify_all();
    }
  }
  // Runs fn on every worker and on the calling thread as rank 0; each rank's error, by rank.
  std::vector<std::exception_ptr> run(const std::function<void(int32_t)>& fn) {
    {
      std::lock_guard lock(m);
      job = &fn;
      pending = static_cast<int32_t>(threads.size());
      ++generation;
    }
    cv.notify_all();
    try {
      fn(0);
      errors[0] = nullptr;
    } catch (...) {
      errors[0] = std::current_exception();
    }
    std::unique_lock lock(m);
    done.wait(lock, [&] { return pending == 0; });
    return errors;
  }

  std::mutex m;
  std::condition_variable cv, done;
  std::vector<std::thread> threads;
  const std::function<void(int32_t)>* job = nullptr;
  uint64_t generation = 0;
  int32_t pending = 0;
  bool stop = false;
  std::vector<std::exception_ptr> errors;
};

TensorParallelBackend::TensorParallelBackend(std::vector<std::unique_ptr<Backend>> ranks,
                                             std::vector<std::unique_ptr<Communicator>> comms)
    : ranks_(std::move(ranks)), comms_(std::move(comms)) {
  if (ranks_.empty() || ranks_.size() != comms_.size())
    fail(ErrorKind::BadInput, "tensor parallel: " + str(int64_t(ranks_.size())) + " backends and " +
                                  str(int64_t(comms_.size())) + " communicators; give one of each per rank");
  for (size_t r = 0; r < ranks_.size(); ++r) {
    if (!ranks_[r] || !comms_[r] || comms_[r]->rank() != static_cast<int>(r) ||
        comms_[r]->size() != static_cast<int>(ranks_.size()))
      fail(ErrorKind::BadInput, "tensor parallel: rank " + str(int64_t(r)) + " lacks a backend or its group's rank");
    comms_[r]->attach(*ranks_[r]);
  }
  workers_ = std::make_unique<Workers>(size());
  begin_step();
}

TensorParallelBackend::~TensorParallelBackend() = default;

void TensorParallelBackend::run(const std::function<void(int32_t)>& fn) {
  for (auto& c : comms_) c->reset();
  // The rank that fails first aborts the group; the others then fail in their collectives, and
  // its error (not theirs) is the one reported.
  std::mutex m;
  int32_t first_failed = -1;
  const std::function<void(int32_t)> guarded = [&](int32_t r) {
    try {
      fn(r);
    } catch (...) {
      {
        std::lock_guard lock(m);
        if (first_failed < 0) first_failed = r;
      }
      comms_[static_cast<size_t>(r)]->abort();
      throw;
    }
  };
  const std::vector<std::exception_ptr> errors = workers_->run(guarded);
  if (first_failed >= 0) std::rethrow_exception(errors[static_cast<size_t>(first_failed)]);
}

std::string TensorParallelBackend::name() const { return "tp" + str(size()) + "(" + target().name() + ")"; }

bool TensorParallelBackend::implements(ArchFeature f) const {
  return std::all_of(ranks_.begin(), ranks_.end(), [&](const auto& b) { return b->implements(f); });
}

void TensorParallelBackend::prepare(const Model& model) {
  const int32_t n = size();
  check_tensor_parallel(model, n);
  const HParams& hp = model.hp;
  shards_.clear();
  owned_.clear();
  vocab_offsets_.clear();
  for (int32_t r = 0; r <= n; ++r) vocab_offsets_.push_back(vocab_offset(hp.n_vocab, n, r));
  const int64_t q = hp.q_dim() / n, kv = hp.kv_dim() / n, ff = hp.n_ff / n;
  for (int32_t r = 0; r < n; ++r) {
    Model part;
    part.hp = rank_hparams(hp, n);
    part.tok_embd = model.tok_embd;
    part.output_norm = model.output_norm;
    part.output =
        rows_of(model.output, vocab_offsets_[static_cast<size_t>(r)], vocab_offsets_[static_cast<size_t>(r) + 1]);
    part.rope_freqs = model.rope_freqs;
    part.rope_long = model.rope_long;
    part.rope_short = model.rope_short;
    for (const LayerWeights& l : model.layers) {
      LayerWeights s = l;  // norms whole
      s.wqkv = Weight{};
      s.wq = rows_of(l.wq, r * q, (r + 1) * q);
      s.wk = rows_of(l.wk, r * kv, (r + 1) * kv);
      s.wv = rows_of(l.wv, r * kv, (r + 1) * kv);
      s.bq = cols_of(l.bq, r * q, (r + 1) * q, owned_);
      s.bk = cols_of(l.bk, r * kv, (r + 1) * kv, owned_);
      s.bv = cols_of(l.bv, r * kv, (r + 1) * kv, owned_);
      s.wo = cols_of(l.wo, r * q, (r + 1) * q, owned_);
      if (r != 0) s.bo = Weight{};  // added once, before the all-reduce sums the ranks' parts
      s.ffn_gate = rows_of(l.ffn_gate, r * ff, (r + 1) * ff);
      s.ffn_up = rows_of(l.ffn_up, r * ff, (r + 1) * ff);
      s.ffn_down = cols_of(l.ffn_down, r * ff, (r + 1) * ff, owned_);
      part.layers.push_back(s);
    }
    shards_.push_back(std::move(part));
  }
  // Each rank uploads or repacks its slice; on devices that is n uploads at once.
  run([&](int32_t r) { ranks_[static_cast<size_t>(r)]->prepare(shards_[static_cast<size_t>(r)]); });
}

std::unique_ptr<KvCache> TensorParallelBackend::make_kv_cache(const HParams& hp, int32_t n_blocks, int32_t block_size) {
  const int32_t n = size();
  if (hp.n_head_kv % n != 0)
    fail(ErrorKind::BadInput, "tensor parallel: a KV cache of " + str(hp.n_head_kv) + " KV heads over " + str(n) +
                                  " ranks; the heads must divide");
  auto kv = std::make_unique<TensorParallelKvCache>();
  const HParams part = rank_hparams(hp, n);
  for (const auto& be : ranks_) {
    kv->parts.push_back(be->make_kv_cache(part, n_blocks, block_size));
    kv->bytes += kv->parts.back()->bytes;
  }
  kv->n_layer = hp.n_layer;
  kv->n_blocks = n_blocks;
  kv->block_size = block_size;
  kv->kv_dim = hp.kv_dim();
  kv->sliding_window = kv->parts.front()->sliding_window;
  kv->window_layers = kv->parts.front()->window_layers;
  kv->backend = name();
  return kv;
}

std::vector<TensorParallelBackend::Rank> TensorParallelBackend::ranks(KvCache& kv) {
  TensorParallelKvCache& cache = cache_of<TensorParallelKvCache>(kv, *this);
  if (cache.parts.size() != ranks_.size() || shards_.size() != ranks_.size())
    fail(ErrorKind::Internal, "tensor parallel: the KV cache or the prepared slices do not match the " + str(size()) +
                                  " ranks (was prepare() called?)");
  std::vector<Rank> out;
  for (size_t r = 0; r < ranks_.size(); ++r)
    out.push_back({ranks_[r].get(), cache.parts[r].get(), &shards_[r], comms_[r].get()});
  return out;
}

uint64_t TensorParallelBackend::device_memory_bytes() const {
  uint64_t sum = 0;
  for (const auto& be : ranks_) sum += be->device_memory_bytes();
  return sum;
}

std::string TensorParallelBackend::device_name() const {
  const std::string d = target().device_name();
  return d.empty() ? d : str(size()) + "x " + d;
}

void TensorParallelBackend::reset_scratch() {
  begin_step();
  for (const auto& be : ranks_) be->reset_scratch();
}

void TensorParallelBackend::begin_step() {
  head_parts_.assign(ranks_.size(), Tensor{});
  head_whole_ = Tensor{};
}

void TensorParallelBackend::keep_head_slice(int32_t r, Tensor part, Tensor whole) {
  head_parts_[static_cast<size_t>(r)] = part;
  if (r == 0) head_whole_ = whole;
}

void TensorParallelBackend::gather_head() {
  if (!head_whole_.data) return;
  run([&](int32_t r) {
    comms_[static_cast<size_t>(r)]->gather_cols(head_parts_[static_cast<size_t>(r)], r == 0 ? head_whole_ : Tensor{},
                                                vocab_offsets_);
    ranks_[static_cast<size_t>(r)]->submit();  // a recorded graph starts now, not when rank 0 reads
  });
  head_whole_ = Tensor{};
}

void TensorParallelBackend::to_host(Tensor x, float* dst) {
  gather_head();
  target().to_host(x, dst);
}

void TensorParallelBackend::copy_rows(Tensor x, std::span<const int32_t> rows, Tensor out) {
  gather_head();
  target().copy_rows(x, rows, out);
}

int32_t TensorParallelBackend::max_top_logits() const {
  int32_t k = INT32_MAX;
  for (const auto& be : ranks_) k = std::min(k, be->max_top_logits());
  return k;
}

namespace {

// A rank's TopLogits of its rows as fixed-size records of floats, the same size on every rank so
// that gather_cols brings them to rank 0: a row is k logits, k ids, log_norm (a double),
// n_finite, ok and the number listed (the integers' bits stored in floats).
constexpr size_t kRowHeader = 5;
template <class T>
float bits_of(T v) {
  static_assert(sizeof(T) == sizeof(float));
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
template <class T>
T from_bits(float f) {
  T v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}

void pack_tops(const std::vector<TopLogits>& tops, int32_t k, float* out) {
  const auto kk = static_cast<size_t>(k);
  for (const TopLogits& t : tops) {
    const size_t listed = std::min(t.ids.size(), kk);
    for (size_t i = 0; i < kk; ++i) {
      out[i] = i < listed ? t.logits[i] : -INFINITY;
      out[kk + i] = bits_of<int32_t>(i < listed ? t.ids[i] : -1);
    }
    uint32_t norm[2];
    std::memcpy(norm, &t.log_norm, sizeof norm);
    out[2 * kk] = bits_of(norm[0]);
    out[2 * kk + 1] = bits_of(norm[1]);
    out[2 * kk + 2] = bits_of<int32_t>(t.n_finite);
    out[2 * kk + 3] = bits_of<int32_t>(t.ok ? 1 : 0);
    out[2 * kk + 4] = bits_of<int32_t>(static_cast<int32_t>(listed));
    out += 2 * kk + kRowHeader;
  }
}

TopLogits unpack_top(const float* in, int32_t k) {
  const auto kk = static_cast<size_t>(k);
  TopLogits t;
  const uint32_t norm[2] = {from_bits<uint32_t>(in[2 * kk]), from_bits<uint32_t>(in[2 * kk + 1])};
  std::memcpy(&t.log_norm, norm, sizeof t.log_norm);
  t.n_finite = from_bits<int32_t>(in[2 * kk + 2]);
  t.ok = from_bits<int32_t>(in[2 * kk + 3]) != 0;
  const auto listed = static_cast<size_t>(std::clamp(from_bits<int32_t>(in[2 * kk + 4]), 0, k));
  for (size_t i = 0; i < listed; ++i) {
    t.logits.push_back(in[i]);
    t.ids.push_back(from_bits<int32_t>(in[kk + i]));
  }
  return t;
}

}  // namespace

void TensorParallelBackend::top_logits(Tensor logits, std::span<const int32_t> rows, int32_t k,
                                       std::vector<TopLogits>& out) {
  if (!head_whole_.data || logits.data != head_whole_.data || k <= 0 || k > max_top_logits()) {
    gather_head();
    target().top_logits(logits, rows, k, out);
    return;
  }
  const int32_t n = size();
  const size_t row_floats = 2 * static_cast<size_t>(k) + kRowHeader;
  const auto share = static_cast<int64_t>(rows.size() * row_floats);
  std::vector<int64_t> offsets;
  for (int32_t r = 0; r <= n; ++r) offsets.push_back(r * share);
  std::vector<float> all(static_cast<size_t>(share) * static_cast<size_t>(n));
  run([&](int32_t r) {
    Backend& be = *ranks_[static_cast<size_t>(r)];
    std::vector<TopLogits> tops;
    be.top_logits(head_parts_[static_cast<size_t>(r)], rows, k, tops);
    if (tops.size() != rows.size())
      fail(ErrorKind::Internal, "tensor parallel: rank " + str(r) + " gave " + str(int64_t(tops.size())) +
                                    " top-logit rows for " + str(int64_t(rows.size())));
    std::vector<float> mine(static_cast<size_t>(share));
    pack_tops(tops, k, mine.data());
    const size_t mark = be.scratch_mark();
    const Tensor part = be.alloc(1, share);
    be.from_host(mine.data(), part);
    const Tensor whole = r == 0 ? be.alloc(1, share * n) : Tensor{};
    comms_[static_cast<size_t>(r)]->gather_cols(part, whole, offsets);
    be.submit();
    if (r == 0) be.to_host(whole, all.data());
    be.scratch_release(mark);
  });
  out.clear();
  std::vector<TopLogits> parts(static_cast<size_t>(n));
  for (size_t j = 0; j < rows.size(); ++j) {
    for (int32_t r = 0; r < n; ++r)
      parts[static_cast<size_t>(r)] = unpack_top(all.data() + static_cast<size_t>(r * share) + j * row_floats, k);
    out.push_back(merge_top_logits(parts, vocab_offsets_, k));
  }
}

void TensorParallelBackend::store_kv(KvCache&, int32_t, Tensor, Tensor, const Batch&) {
  fail(ErrorKind::Internal, "tensor parallel: store_kv addresses one rank's cache; run layers through forward()");
}

void TensorParallelBackend::attention(KvCache&, int32_t, Tensor, const Batch&, int32_t, int32_t, int32_t, Tensor) {
  fail(ErrorKind::Internal, "tensor parallel: attention addresses one rank's cache; run layers through forward()");
}

}  // namespace hayate
