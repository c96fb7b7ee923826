// The fast CPU backend: activations are converted once per matmul to the kernel's input format
// (Q8_0 / Q8_K / f32, or a packed format's own), then the output is split into tasks of a chunk
// of weight rows × a block of tokens, run on a persistent spinning thread pool with the tiled
// SIMD kernels chosen at run time (quant::TypeTraits::tile_dot). Matrices whose type has a packed
// format on this CPU (quant/packed.h: row-interleaved groups for the AVX2 / AVX-512 kernels) are
// packed at prepare(), and their file pages are then dropped from resident memory. Attention runs
// per (token, KV head) with an online softmax; the element-wise steps are threaded over rows.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/cpu_backends.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/host_backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "quant/kernels.h"
#include "quant/packed.h"
#include "quant/quant.h"

namespace hayate {
namespace {

// Tokens per task: their converted activations (a few KiB each) stay in L2 while a chunk of
// weight rows is swept over them.
constexpr int64_t kTokenBlock = 64;

class CpuBackend : public HostBackend {
 public:
  explicit CpuBackend(int n_threads)
      : pool_(n_threads),
        kv_choice_(cpu_kv_type()),
        kv_type_(kv_choice_.value_or(default_kv_type(false))),
        attend_(quant::detail::cpu_has_avx2() && !quant::scalar_kernels_forced() ? detail::attend_group_avx2
                                                                                 : detail::attend_group_scalar),
        tile_attention_(quant::detail::cpu_has_avx512() && !quant::scalar_kernels_forced()),
        swiglu_(quant::detail::cpu_has_avx2() && !quant::scalar_kernels_forced() ? detail::swiglu_avx2
                                                                                 : detail::swiglu_scalar) {}
  std::string name() const override { return "cpu"; }
  KvType kv_type() const override { return kv_type_; }

  // Tied embeddings: the output matrix is repacked, and get_rows keeps reading the file's rows
  // of token_embd (faulted back in as needed).
  void prepare(const Model& model) override {
    bool quantized = false;
    for_each_weight(model, [&](const Weight& w, WeightKind kind) {
      if (kind != WeightKind::Matrix) return;
      repack(w, model.file.get());
      if (w && w.type != GgmlType::F32 && w.type != GgmlType::F16 && w.type != GgmlType::BF16) quantized = true;
    });
    if (!kv_choice_) kv_type_ = default_kv_type(quantized);
  }
  void prepare_weight(const Weight& w) override { repack(w, nullptr); }

  void matmul(const Weight& w, Tensor x, Tensor out, const Weight* bias) override {
    const quant::TypeTraits* tr = quant::traits(w.type);
    if (!tr || !tr->tile_dot) fail(ErrorKind::Unsupported, std::string("no dot kernel for ") + ggml_type_name(w.type));
    const auto packed = packed_.find(w.data);
    const quant::PackedFormat* format = packed != packed_.end() ? packed->second.format : nullptr;
    const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;

    // Activations in the kernel's input format.
    quant::FromFloatFn convert = nullptr;
    size_t act_row = static_cast<size_t>(x.cols) * sizeof(float);
    if (format) {
      convert = format->convert_act;
      act_row = format->act_row_bytes(x.cols);
    } else if (tr->vec_dot_type != GgmlType::F32) {
      convert = tr->from_float_vec_dot ? tr->from_float_vec_dot : quant::traits(tr->vec_dot_type)->from_float;
      act_row = ggml_row_size(tr->vec_dot_type, x.cols);
    }
    const void* act = x.data;
    if (convert) {
      converted_.resize(act_row * static_cast<size_t>(x.rows));
      by_rows(x.rows, [&](int64_t t) { convert(x.data + t * x.cols, converted_.data() + t * act_row, x.cols); });
      act = converted_.data();
    }

    // Row chunks: about 8 per thread for one token (fine enough to balance, coarse enough to
    // keep each thread streaming), larger for batches, so each weight chunk is reused across a
    // token block from cache. Whole multiples of 8 rows (or of the packed groups) keep the
    // kernels' row tiles and the groups whole.
    const int64_t n_tok = x.rows;
    const int64_t n_tok_blocks = (n_tok + kTokenBlock - 1) / kTokenBlock;
    const int64_t target = n_tok == 1 ? 8 : 4;
    const int64_t align = format ? format->group_rows : 8;
    int64_t chunk = w.rows / (static_cast<int64_t>(pool_.size()) * target);
    chunk = std::clamp<int64_t>((chunk + align - 1) / align * align, align, n_tok == 1 ? 256 : 64);
    const int64_t n_chunks = (w.rows + chunk - 1) / chunk;
    const size_t w_row = w.row_bytes();
    const auto* act_bytes = static_cast<const uint8_t*>(act);
    const quant::TileDotFn tile = tr->tile_dot;
    pool_.parallel_for(n_chunks * n_tok_blocks, [&](int64_t task, int) {
      // A chunk's token blocks are consecutive tasks: its weights are read from memory once
      // and then from cache (Q8_0 pp512 on one core: 277-291 tokens/s of CPU time against
      // 255-275 with the token blocks outermost).
      const int64_t c = task / n_tok_blocks, tb = task % n_tok_blocks;
      const int64_t r0 = c * chunk, nr = std::min(chunk, w.rows - r0);
      const int64_t t0 = tb * kTokenBlock, nt = std::min(kTokenBlock, n_tok - t0);
      float* o = out.data + t0 * out.cols + r0;
      const uint8_t* a = act_bytes + static_cast<size_t>(t0) * act_row;
      if (format) {
        // Chunks are whole groups; one contiguous stream per chunk.
        const size_t group = format->group_bytes(w.cols);
        format->tile(w.cols, packed->second.bytes.get() + static_cast<size_t>(r0 / format->group_rows) * group, group,
                     nr, a, act_row, nt, o, out.cols);
      } else if (nt == 1) {
        // One token: memory-bound; one row at a time streams better from DRAM than several
        // interleaved rows (measured), and a pair's result is the same in any tile shape.
        for (int64_t r = 0; r < nr; ++r) tile(w.cols, w.row(r0 + r), w_row, 1, a, act_row, 1, o + r, out.cols);
      } else {
        tile(w.cols, w.row(r0), w_row, nr, a, act_row, nt, o, out.cols);
      }
      if (b)
        for (int64_t t = 0; t < nt; ++t)
          for (int64_t r = 0; r < nr; ++r) o[t * out.cols + r] += b[r0 + r];
    });
  }

  void attention(KvCache& kv, int32_t layer, Tensor q, const Batch& batch, int32_t n_head, int32_t n_head_kv,
                 int32_t head_dim, Tensor out) override {
    auto& cache = cache_of<CpuKvCache>(kv, *this);
    const int32_t group = n_head / n_head_kv;
    if (group > detail::kMaxGroup || head_dim > detail::kMaxHeadDim)
      fail(ErrorKind::Unsupported, "attention: more than " + std::to_string(detail::kMaxGroup) +
                                       " query heads per KV head or head size above " +
                                       std::to_string(detail::kMaxHeadDim));
    // Tiles of consecutive tokens of one sequence, their query heads filling the 16 lanes of the
    // AVX-512 kernel, share each K/V chunk; elsewhere one token per task.
    const bool tiled = tile_attention_ && head_dim % 16 == 0;
    const int32_t tile_cap = tiled ? std::max(1, detail::kTileLanes / group) : 1;
    tiles_.clear();
    for (int32_t t = 0; t < static_cast<int32_t>(batch.size()); ++t)
      if (tiles_.empty() || tiles_.back().second == tile_cap || batch.seq[t] != batch.seq[tiles_.back().first])
        tiles_.push_back({t, 1});
      else
        ++tiles_.back().second;
    const auto kernel = head_dim % 8 == 0 ? attend_ : detail::attend_group_scalar;
    pool_.parallel_for(static_cast<int64_t>(tiles_.size()) * n_head_kv, [&](int64_t task, int) {
      const auto [t0, n_tok] = tiles_[static_cast<size_t>(task / n_head_kv)];
      const int32_t g = static_cast<int32_t>(task % n_head_kv);
      detail::AttendGroup a;
      a.k_base = cache.k(layer);
      a.v_base = cache.v(layer);
      a.values = cache.type();
      a.kv_dim = cache.kv_dim;
      a.block_table = batch.sequences[batch.seq[t0]].block_table.data();
      a.block_size = cache.block_size;
      a.kv_head = g;
      a.head_dim = head_dim;
      a.n_q = group;
      const int64_t head = static_cast<int64_t>(g) * group * head_dim;
      if (tiled) {
        int32_t first[detail::kTileLanes], pos[detail::kTileLanes];
        const float* qs[detail::kTileLanes];
        float* outs[detail::kTileLanes];
        for (int32_t i = 0; i < n_tok; ++i) {
          pos[i] = batch.positions[t0 + i];
          first[i] = cache.first_attended(layer, pos[i]);
          qs[i] = q.data + (t0 + i) * q.cols + head;
          outs[i] = out.data + (t0 + i) * out.cols + head;
        }
        detail::attend_tile_avx512(a, n_tok, first, pos, qs, outs);
        return;
      }
      a.pos = batch.positions[t0];
      a.first = cache.first_attended(layer, a.pos);
      a.q = q.data + t0 * q.cols + head;
      a.out = out.data + t0 * out.cols + head;
      kernel(a);
    });
  }

  // The host backend's row-wise steps, a row per task on a prompt (the other threads would
  // otherwise wait for one); a decoding step's few rows are not worth waking the pool for.
  void rms_norm(Tensor x, const Weight& w, float eps, Tensor out) override {
    by_rows(x.rows, [&](int64_t t) { HostBackend::rms_norm(row(x, t), w, eps, row(out, t)); });
  }
  void rope(Tensor x, int32_t n_heads, std::span<const int32_t> positions, const RopeParams& p) override {
    by_rows(x.rows,
            [&](int64_t t) { HostBackend::rope(row(x, t), n_heads, positions.subspan(static_cast<size_t>(t), 1), p); });
  }
  void add(Tensor x, Tensor y) override {
    by_rows(x.rows, [&](int64_t t) { HostBackend::add(row(x, t), row(y, t)); });
  }

  void layer_norm(Tensor x, const Weight& w, const Weight& b, float eps, Tensor out) override {
    check_layer_norm(x, w, b, out);
    by_rows(x.rows, [&](int64_t t) { HostBackend::layer_norm(row(x, t), w, b, eps, row(out, t)); });
  }
  void gelu(Tensor x, Tensor out) override {
    check_gelu(x, out);
    by_rows(x.rows, [&](int64_t t) { HostBackend::gelu(row(x, t), row(out, t)); });
  }

  // A task per (sequence, head): the scores Q K^T and then P V as tiled f32 dots (V transposed
  // into the thread's scratch), so a sequence's result does not depend on the others packed with it.
  void encoder_attention(Tensor q, Tensor k, Tensor v, std::span<const int32_t> seq_lens, int32_t n_head,
                         Tensor out) override {
    check_encoder_attention(q, k, v, seq_lens, n_head, out);
    const int64_t head_dim = q.cols / n_head;
    const quant::TileDotFn tile = quant::traits(GgmlType::F32)->tile_dot;
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    std::vector<int64_t> firsts(seq_lens.size());
    for (size_t i = 1; i < seq_lens.size(); ++i) firsts[i] = firsts[i - 1] + seq_lens[i - 1];
    attention_scratch_.resize(pool_.size());
    const auto bytes = [](const Tensor& x) { return static_cast<size_t>(x.cols) * sizeof(float); };
    pool_.parallel_for(static_cast<int64_t>(seq_lens.size()) * n_head, [&](int64_t task, int thread) {
      const auto seq = static_cast<size_t>(task / n_head);
      const int64_t off = task % n_head * head_dim, first = firsts[seq], len = seq_lens[seq];
      std::vector<float>& buf = attention_scratch_[static_cast<size_t>(thread)];
      buf.resize(static_cast<size_t>(len * len + head_dim * len));
      float* p = buf.data();
      float* vt = p + len * len;
      tile(head_dim, k.data + first * k.cols + off, bytes(k), len, q.data + first * q.cols + off, bytes(q), len, p,
           len);
      for (int64_t t = 0; t < len; ++t) {
        float* r = p + t * len;
        float top = -INFINITY;
        for (int64_t s = 0; s < len; ++s) top = std::max(top, r[s] *= scale);
        double sum = 0.0;
        for (int64_t s = 0; s < len; ++s) sum += (r[s] = std::exp(r[s] - top));
        const auto inv = static_cast<float>(1.0 / sum);
        for (int64_t s = 0; s < len; ++s) r[s] *= inv;
      }
      for (int64_t s = 0; s < len; ++s)
        for (int64_t i = 0; i < head_dim; ++i) vt[i * len + s] = v.data[(first + s) * v.cols + off + i];
      const size_t p_row = static_cast<size_t>(len) * sizeof(float);
      tile(len, vt, p_row, head_dim, p, p_row, len, out.data + first * out.cols + off, out.cols);
    });
  }

  void swiglu(Tensor gate, Tensor up, Tensor out) override {
    // A decoding step's rows are long (n_ff): split them so both threads share the work, at
    // multiples of 8 so that each value meets the same vector or scalar code as in a batch.
    const int64_t parts = gate.rows < kPoolRows ? pool_.size() : 1;
    const int64_t part = ((gate.cols + parts - 1) / parts + 7) / 8 * 8;
    pool_.parallel_for(gate.rows * parts, [&](int64_t task, int) {
      const int64_t t = task / parts, c0 = task % parts * part, n = std::min(part, gate.cols - c0);
      const int64_t o = t * gate.cols + c0;
      if (n > 0) swiglu_(gate.data + o, up.data + o, out.data + o, n);
    });
  }

 private:
  static Tensor row(Tensor x, int64_t t) { return Tensor{x.data + t * x.cols, 1, x.cols}; }

  // fn(row) for every row: on the pool from kPoolRows rows up, on this thread below.
  static constexpr int64_t kPoolRows = 8;
  template <class Fn>
  void by_rows(int64_t rows, const Fn& fn) {
    if (rows < kPoolRows) {
      for (int64_t t = 0; t < rows; ++t) fn(t);
      return;
    }
    pool_.parallel_for(rows, [&](int64_t t, int) { fn(t); });
  }

  struct Packed {
    std::unique_ptr<uint8_t[]> bytes;
    const quant::PackedFormat* format;
  };

  // Packs a matrix for its format's kernels (when this CPU has one for its type) and drops the
  // file's copy from resident memory, so weights are resident once.
  void repack(const Weight& w, const gguf::File* file) {
    const quant::PackedFormat* format = w ? quant::packed_format(w.type) : nullptr;
    if (!format || packed_.count(w.data)) return;
    Packed p{std::make_unique_for_overwrite<uint8_t[]>(quant::packed_bytes(*format, w.rows, w.cols)), format};
    const int64_t n_groups = (w.rows + format->group_rows - 1) / format->group_rows;
    pool_.parallel_for(n_groups,
                       [&](int64_t g, int) { format->pack(w.data, w.rows, w.cols, g, g + 1, p.bytes.get()); });
    if (file) file->release(w.data, w.row_bytes() * static_cast<size_t>(w.rows));
    packed_.emplace(w.data, std::move(p));
  }

  ThreadPool pool_;
  std::unordered_map<const void*, Packed> packed_;  // by the file's weight data
  std::vector<uint8_t> converted_;
  std::optional<KvType> kv_choice_;  // HAYATE_KV_TYPE's, else the model's default at prepare()
  KvType kv_type_;
  void (*attend_)(const detail::AttendGroup&);
  bool tile_attention_;
  void (*swiglu_)(const float*, const float*, float*, int64_t);
  std::vector<std::pair<int32_t, int32_t>> tiles_;     // attention tiles: first token, token count
  std::vector<std::vector<float>> attention_scratch_;  // encoder attention: per thread, scores and V^T
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads); }

}  // namespace hayate
