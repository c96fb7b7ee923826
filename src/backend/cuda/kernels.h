// The C++17 boundary between the C++20 backend (cuda_backend.cpp) and the kernels (*.cu, which
// nvcc builds as C++17): launchers that enqueue one kernel on a stream and return the launch's
// status. Pointers are device pointers; sizes are checked by the caller.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backend/cuda/fusion.h"

namespace hayate::cuda {

// A weight matrix in its file format (GGUF type number), rows x cols, row_bytes per row.
struct DevWeight {
  const void* data = nullptr;
  uint32_t type = 0;
  int64_t rows = 0, cols = 0;
  int64_t row_bytes = 0;
};

// Whether the kernels can read this GGUF type (one of HAYATE_CUDA_TYPES in dequant.cuh).
bool type_supported(uint32_t type);

// out[t * ldo + o] = sum_i w[o][i] * x[t * ldx + i] (+ bias[o]), one warp per output row.
// q4k_kernel: Q4_K rows through their own kernel (matvec.cu), else the generic one.
cudaError_t matvec(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                   const float* bias, bool q4k_kernel, cudaStream_t s);
// The same product for Q4_K, Q6_K and Q8_0 weights and 1..kMatvecFastMaxTokens tokens with
// coalesced loads (matvec_fast.cu), where matvec_fast_fits (format, alignment).
// With q8 (the int8 path), the activations are first quantized to 8 bits in blocks of 32 into
// q8's scratch (act_q8_bytes, act_q8_in) and each run of weights is an integer dot product
// (dp4a): the product of the weights with those quantized activations, up to f32 rounding.
constexpr int64_t kMatvecFastMaxTokens = 8;
// With bits16, the codes are 16-bit (int16_t at q; fast::Q16Act, one dp2a pair a word of weights).
struct ActQ8 {
  int8_t* q = nullptr;
  float* d = nullptr;
  bool ready = false;  // q and d already hold these activations (an earlier call quantized them)
  bool bits16 = false;
};
size_t act_q8_bytes(int64_t n_tokens, int64_t cols, bool bits16 = false);
ActQ8 act_q8_in(void* scratch, int64_t n_tokens, int64_t cols, bool bits16 = false);
bool matvec_fast_fits(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens);
cudaError_t matvec_fast(const DevWeight& w, const float* x, int64_t ldx, int64_t n_tokens, float* out, int64_t ldo,
                        const float* bias, cudaStream_t s, const ActQ8* q8 = nullptr);
// out[t * ldo + o] = silu(gate x_t)[o] * (up x_t)[o] in one pass over both weights (same format
// and shape, matvec_fast_fits for each): the feed-forward's first half of a decode step.
bool matvec_fast_swiglu_fits(const DevWeight& gate, const DevWeight& up, const float* x, int64_t ldx, int64_t n_tokens);
cudaError_t matvec_fast_swiglu(const DevWeight& gate, const DevWeight& up, const float* x, int64_t ldx,
                               int64_t n_tokens, float* out, int64_t ldo, cudaStream_t s, const ActQ8* q8 = nullptr);
// Several products of the same activations in one launch (Q, K and V; gate and up): weight i
// into out[i] (ldo[i], bias[i] or null). Each part's rows run the code its own launch would
// (matvec_fast for Q4_K/Q6_K/Q8_0, matvec's 16-byte kernel for F16/BF16) with the same rows a
// warp and warps a row, so every output has the bits of separate launches. matvec_parts_fits:
// 2..kMaxMatvecParts weights of one type, each taking that kernel alone (fast: whether the
// backend uses matvec_fast for the quantized types), 1..8 tokens.
struct MatvecParts {
  int n = 0;
  DevWeight w[kMaxMatvecParts];
  float* out[kMaxMatvecParts] = {};
  int64_t ldo[kMaxMatvecParts] = {};
  const float* bias[kMaxMatvecParts] = {};
};
bool matvec_parts_fits(const MatvecParts& p, const float* x, int64_t ldx, int64_t n_tokens, bool fast);
cudaError_t matvec_parts(const MatvecParts& p, const float* x, int64_t ldx, int64_t n_tokens, cudaStream_t s,
                         const ActQ8* q8 = nullptr);
// The quantized half of those two (matvec_fast.cu), for matvec_parts.
bool matvec_fast_parts_fits(const MatvecParts& p, const float* x, int64_t ldx, int64_t n_tokens);
cudaError_t matvec_fast_parts(const MatvecParts& p, const float* x, int64_t ldx, int64_t n_tokens, cudaStream_t s,
                              const ActQ8* q8 = nullptr);
// Rows [row0, row0 + n_rows) of w as IEEE halves (bf16 bits when as_bf16), row-major, into dst.
cudaError_t dequantize_rows_f16(const DevWeight& w, int64_t row0, int64_t n_rows, void* dst, bool as_bf16,
                                cudaStream_t s);
// Quantized weights times more tokens than the mat-vec takes (matmul_batched.cu): x_half holds
// n_tokens rows of w.cols f16 activations; plan from plan_batched (partial: plan.partial_floats
// floats of scratch when it splits the columns).
struct BatchedPlan {
  int block_rows = 128;  // weight rows per thread block: 64 or 128
  int splits = 1;
  int64_t steps_per_split = 0;
  size_t partial_floats = 0;
  // Each block asks L2 for its rows' bytes kPrefetchSteps column steps ahead (a bulk prefetch),
  // so the step's loads find them there rather than in device memory.
  bool prefetch = false;
  int blocks_per_sm = 2;  // matmul_mma: 1 or 2 resident blocks per SM (registers per thread)
  bool exact = false;     // matmul_mma: decode in f32 (the older kernels' f16 values), not in f16
};
BatchedPlan plan_batched(int64_t rows, int64_t cols, int64_t n_tokens, int block_rows);
cudaError_t matmul_batched(const DevWeight& w, const void* x_half, int64_t n_tokens, float* out, int64_t ldo,
                           const float* bias, const BatchedPlan& plan, float* partial, cudaStream_t s);
// The tensor-core kernel for Q4_K, Q5_K, Q6_K and Q8_0 weights (matmul_mma.cu): weights decoded
// in registers straight into the mma's operands, activations staged by cp.async, so each weight is
// read once per 64 tokens. matmul_mma_fits: the format and the alignment it needs (rows of whole
// 256-column super-blocks, 4-byte multiples; 16-byte aligned data). Plans and partial sums as above
// (block_rows 128; steps_per_split counts super-blocks); blocks_per_sm (1 or 2, 0: the default 2)
// picks the kernel's register budget and how many blocks the columns are split into.
bool matmul_mma_fits(const DevWeight& w);
BatchedPlan plan_mma(int64_t rows, int64_t cols, int64_t n_tokens, int blocks_per_sm = 0);
cudaError_t matmul_mma(const DevWeight& w, const void* x_half, int64_t n_tokens, float* out, int64_t ldo,
                       const float* bias, const BatchedPlan& plan, float* partial, cudaStream_t s);
// out[t * ldo + r] = the sum of splits x n_tokens x rows partial sums in split order (+ bias[r]).
cudaError_t sum_splits(const float* partial, int splits, int64_t n_tokens, int64_t rows, float* out, int64_t ldo,
                       const float* bias, cudaStream_t s);
int sm_count();  // of device 0
// n floats to halves (or bf16 bits).
cudaError_t f32_to_half(const float* src, void* dst, int64_t n, bool as_bf16, cudaStream_t s);
// out[t * ldo + o] += bias[o] for o < n_out.
cudaError_t add_bias(float* out, int64_t ldo, int64_t n_tokens, int64_t n_out, const float* bias, cudaStream_t s);

// out row i = dequantized row ids[i] of table (ids already checked against table.rows).
cudaError_t get_rows(const DevWeight& table, const int32_t* ids, int64_t n, float* out, int64_t ldo, cudaStream_t s);
// out row i = x row rows[i].
cudaError_t copy_rows(const float* x, int64_t ldx, const int32_t* rows, int64_t n, int64_t cols, float* out,
                      int64_t ldo, cudaStream_t s);
// RMSNorm over each group of `group` consecutive floats; out may be x.
cudaError_t rms_norm(const float* x, const float* w, int64_t n_groups, int64_t group, float eps, float* out,
                     cudaStream_t s);
// x += y over n_groups * group floats, then out = rms_norm(x) as rms_norm computes it (the same
// bits as add then rms_norm); out may not overlap y.
cudaError_t add_rms_norm(float* x, const float* y, const float* w, int64_t n_groups, int64_t group, float eps,
                         float* out, cudaStream_t s);
// Rotates the first n_rot dims of each head in place. inv_freq: n_rot/2 floats; neox picks the
// pairing; cos and sin are multiplied by attn_factor (LongRoPE; 1 otherwise).
cudaError_t rope(float* x, int64_t rows, int64_t ldx, int32_t n_heads, int32_t head_dim, int32_t n_rot, bool neox,
                 const int32_t* positions, const float* inv_freq, float attn_factor, cudaStream_t s);
// out = silu(gate) * up over n floats (out may be gate).
cudaError_t swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s);
// Mixture of experts: out[t * ldo + c] = sum over j < k, in j order, of weight[t * k + j] *
// y[row_of_pair[t * k + j] * ldy + c], for n_tokens tokens of cols floats.
cudaError_t moe_weighted_sum(const float* y, int64_t ldy, const int32_t* row_of_pair, const float* weight,
                             int64_t n_tokens, int32_t k, int64_t cols, float* out, int64_t ldo, cudaStream_t s);
// out = gelu_tanh(gate) * up over n floats (out may be gate), PyTorch's approximate="tanh" in float.
cudaError_t geglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t s);
// x *= factor over n floats.
cudaError_t scale(float* x, float factor, int64_t n, cudaStream_t s);
// x += y over n floats.
cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t s);
// K/V rows of n tokens into their cache slots (kv_dim floats each).
cudaError_t store_kv(const float* k, int64_t ldk, const float* v, int64_t ldv, const int64_t* slots, int64_t n,
                     int32_t kv_dim, float* k_cache, float* v_cache, cudaStream_t s);

// rope of q's n_head heads and k's n_head_kv heads in place, then k and v (n_head_kv * head_dim
// floats a token) into their cache slots: the bits of rope, rope and store_kv, in one launch.
struct RopeStoreArgs {
  float* q = nullptr;
  int64_t ldq = 0;
  float* k = nullptr;
  int64_t ldk = 0;
  const float* v = nullptr;
  int64_t ldv = 0;
  int64_t n_tokens = 0;
  int32_t n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0;
  bool neox = false;
  const int32_t* positions = nullptr;
  const float* inv_freq = nullptr;
  float attn_factor = 1.0f;  // cos and sin times it, as rope's
  const int64_t* slots = nullptr;
  float* k_cache = nullptr;
  float* v_cache = nullptr;
};
cudaError_t rope_store_kv(const RopeStoreArgs& a, cudaStream_t s);

// Causal attention over the paged cache, split over the sequence in chunks of `chunk` positions
// (flash-style: online softmax per chunk, then a combine). block_tables: n_seq x max_blocks.
struct AttentionArgs {
  const float* q = nullptr;  // n_tokens x ldq
  int64_t ldq = 0;
  const float* k_cache = nullptr;  // slots x kv_dim
  const float* v_cache = nullptr;
  const int32_t* positions = nullptr;  // per token
  const int32_t* seq = nullptr;        // per token, row of block_tables
  const int32_t* block_tables = nullptr;
  int32_t max_blocks = 0, block_size = 0, kv_dim = 0;
  int32_t n_tokens = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int32_t n_split = 1, chunk = 256;
  // > 0: a token at pos attends only to [pos - window + 1, pos] (a sliding-window layer; the
  // split kernel only: attention_prefill refuses it).
  int32_t window = 0;
  float* partial = nullptr;  // n_tokens * n_head * n_split * (head_dim + 2) floats of scratch
  // n_tokens * n_head zeros, or null: with them the chunk kernel's last block of each (token,
  // head) merges the splits (the combine's code, no second launch) and leaves its counter 0.
  int* counters = nullptr;
  float* out = nullptr;  // n_tokens x ldo
  int64_t ldo = 0;
  // attention_prefill only: n_tiles pairs (first token, tokens) of consecutive tokens of one
  // sequence, at most attention_prefill_tile_tokens each.
  const int32_t* tiles = nullptr;
  int32_t n_tiles = 0;
};
constexpr int kMaxHeadDim = 256;
cudaError_t attention(const AttentionArgs& a, cudaStream_t s);
// The same attention for prompt batches, tiled (attention_prefill.cu): keys and values read once
// per tile of tokens and query heads of a KV head. Tokens a tile may hold (0: unsupported).
int32_t attention_prefill_tile_tokens(int32_t n_head, int32_t n_head_kv);
cudaError_t attention_prefill(const AttentionArgs& a, cudaStream_t s);

// The k most likely tokens of rows of logits and each row's log-sum-exp (top_logits.cu).
constexpr int kTopChunk = 4096;     // logits per block of the first pass
constexpr int kMaxTopLogits = 128;  // the largest k
struct TopLogitsOut {               // one device buffer, copied back whole (top_logits_out_bytes)
  double* log_norm = nullptr;       // per row
  int32_t* n_finite = nullptr;      // per row: logits that are not -inf
  int32_t* n_listed = nullptr;      // per row: entries of ids/logits filled, min(k, finite)
  int32_t* bad = nullptr;           // per row: NaN or +inf seen, or nothing finite
  int32_t* ids = nullptr;           // n_rows x k, best first (equal logits: lower id first)
  float* logits = nullptr;          // n_rows x k
};
struct TopLogitsArgs {
  const float* logits = nullptr;  // rows of n_vocab floats, ld apart
  int64_t ld = 0;
  const int32_t* rows = nullptr;  // n_rows row indices (device)
  int32_t n_rows = 0, n_vocab = 0, k = 0;
  TopLogitsOut out;
  // Set by top_logits() in the scratch:
  double* chunk_sum = nullptr;
  float* chunk_max = nullptr;
  int32_t *chunk_finite = nullptr, *chunk_bad = nullptr;
  uint32_t* part_keys = nullptr;
  int32_t* part_ids = nullptr;
};
size_t top_logits_scratch_bytes(int32_t n_rows, int32_t n_vocab, int32_t k);
size_t top_logits_out_bytes(int32_t n_rows, int32_t k);
// The layout of that buffer at `base` (device or host copy).
TopLogitsOut top_logits_out(void* base, int32_t n_rows, int32_t k);
cudaError_t top_logits(TopLogitsArgs a, void* scratch, cudaStream_t s);

// The BERT-family encoder's operations (encoder.cu). LayerNorm of each of `rows` rows of `cols`
// floats (population variance), times w plus b; out may be x.
cudaError_t layer_norm(const float* x, int64_t ldx, const float* w, const float* b, int64_t rows, int64_t cols,
                       float eps, float* out, int64_t ldo, cudaStream_t s);
// out = x * Phi(x) (GELU, the erf form) over n floats; out may be x.
cudaError_t gelu(const float* x, float* out, int64_t n, cudaStream_t s);
// Bidirectional attention over sequences packed one after another: each query row attends to
// every key row of its own sequence, head by head (n_head heads of head_dim floats). tiles:
// n_tiles triples (first row of the sequence, its length, first query of the tile), a tile of
// at most encoder_attention_tile_queries() queries.
struct EncoderAttentionArgs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t ldq = 0, ldk = 0, ldv = 0;
  int32_t n_head = 0, head_dim = 0;
  const int32_t* tiles = nullptr;
  int32_t n_tiles = 0;
  float* out = nullptr;
  int64_t ldo = 0;
};
constexpr int kMaxEncoderHeadDim = 128;
int32_t encoder_attention_tile_queries();
cudaError_t encoder_attention(const EncoderAttentionArgs& a, cudaStream_t s);

}  // namespace hayate::cuda
