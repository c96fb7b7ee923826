// The attention kernels (chunked online softmax over a paged KV layout) against a plain
// double-precision softmax(q·K^T / sqrt(d)) V, for context lengths around the chunk size,
// several head sizes and query-group sizes, K/V in f32, f16 and q8_0 (the reference then reads the
// same rounded values); the AVX2 and AVX-512 kernels where the CPU has them, and the AVX-512
// tile of several tokens against each token alone, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <utility>
#include <vector>

#include "backend/cpu/attention_kernels.h"
#include "core/fp16.h"
#include "quant/kernels.h"
#include "quant/quant.h"

namespace hayate {
namespace {

struct Case {
  int32_t pos, head_dim, n_q;
  int32_t first = 0;  // > 0: a sliding window, positions [first, pos]
};

using Kernel = std::function<void(const detail::AttendGroup&)>;

// The tile kernel on one token, as the backend calls it for a decoding step.
void tile_of_one(const detail::AttendGroup& a) {
  const float* q = a.q;
  float* out = a.out;
  detail::attend_tile_avx512(a, 1, &a.first, &a.pos, &q, &out);
}

// K and V as the cache stores them (kv_head_at()'s layout): `k`, `v`, rows of kv_dim values by
// slot, are replaced by the values the kernels will read.
struct Stored {
  std::vector<uint8_t> k, v;
};
Stored store(KvType type, std::vector<float>& k, std::vector<float>& v, int64_t kv_dim, int32_t block_size,
             int32_t head_dim) {
  const int64_t rows = static_cast<int64_t>(k.size()) / kv_dim;
  Stored s{std::vector<uint8_t>(kv_bytes(type, kv_dim) * static_cast<size_t>(rows)), {}};
  s.v = s.k;
  for (std::vector<float>* x : {&k, &v}) {
    uint8_t* out = (x == &k ? s.k : s.v).data();
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t h = 0; h < kv_dim / head_dim; ++h) {
        float* row = x->data() + r * kv_dim + h * head_dim;
        uint8_t* dst = out + kv_bytes(type, kv_head_at(r, h, block_size, kv_dim, head_dim));
        if (type == KvType::F32) {
          std::memcpy(dst, row, head_dim * sizeof(float));
        } else if (type == KvType::F16) {
          for (int64_t i = 0; i < head_dim; ++i) {
            reinterpret_cast<uint16_t*>(dst)[i] = f32_to_fp16(row[i]);
            row[i] = fp16_to_f32(reinterpret_cast<uint16_t*>(dst)[i]);
          }
        } else {
          quant::quantize_row(GgmlType::Q8_0, row, dst, head_dim);
          quant::dequantize_row(GgmlType::Q8_0, dst, row, head_dim);
        }
      }
  }
  return s;
}

// The group of KV head `kv_head` over `stored`, with no query yet.
detail::AttendGroup group_over(const Stored& stored, KvType type, int64_t kv_dim, const std::vector<int32_t>& table,
                               int32_t block_size, int32_t kv_head, int32_t head_dim, int32_t n_q) {
  detail::AttendGroup a;
  a.k_base = stored.k.data();
  a.v_base = stored.v.data();
  a.values = type;
  a.kv_dim = kv_dim;
  a.block_table = table.data();
  a.block_size = block_size;
  a.kv_head = kv_head;
  a.head_dim = head_dim;
  a.n_q = n_q;
  return a;
}

const char* type_name(KvType t) { return t == KvType::F32 ? "f32" : t == KvType::F16 ? "f16" : "q8_0"; }

void check(const Kernel& kernel, const Case& c, const char* name, KvType type) {
  const int32_t n_kv_head = 2, block_size = 16, kv_head = 1;
  const int64_t kv_dim = static_cast<int64_t>(n_kv_head) * c.head_dim;
  const int32_t n_blocks = c.pos / block_size + 1;
  std::vector<int32_t> table;
  for (int32_t b = 0; b < n_blocks; ++b) table.push_back(n_blocks - 1 - b);  // out of order
  std::mt19937 rng(static_cast<uint32_t>(c.pos * 131 + c.head_dim * 7 + c.n_q));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(n_blocks * block_size * kv_dim)), v(k.size());
  std::vector<float> q(static_cast<size_t>(c.n_q * c.head_dim)), out(q.size(), NAN);
  for (float& x : k) x = 2.0f * dist(rng);  // large enough scores that the softmax is peaked
  for (float& x : v) x = dist(rng);
  for (float& x : q) x = dist(rng);
  const Stored stored = store(type, k, v, kv_dim, block_size, c.head_dim);  // k, v: the values the kernel sees

  detail::AttendGroup a = group_over(stored, type, kv_dim, table, block_size, kv_head, c.head_dim, c.n_q);
  a.first = c.first;
  a.pos = c.pos;
  a.q = q.data();
  a.out = out.data();
  kernel(a);

  for (int32_t h = 0; h < c.n_q; ++h) {
    std::vector<double> s(static_cast<size_t>(c.pos) + 1);
    double max_s = -INFINITY, sum = 0;
    auto slot = [&](int32_t p) { return static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size; };
    for (int32_t p = c.first; p <= c.pos; ++p) {
      double d = 0;
      for (int32_t i = 0; i < c.head_dim; ++i)
        d += static_cast<double>(q[h * c.head_dim + i]) * k[slot(p) * kv_dim + kv_head * c.head_dim + i];
      s[p] = d / std::sqrt(static_cast<double>(c.head_dim));
      max_s = std::max(max_s, s[p]);
    }
    for (int32_t p = c.first; p <= c.pos; ++p) sum += (s[p] = std::exp(s[p] - max_s));
    for (int32_t i = 0; i < c.head_dim; ++i) {
      double want = 0;
      for (int32_t p = c.first; p <= c.pos; ++p) want += s[p] / sum * v[slot(p) * kv_dim + kv_head * c.head_dim + i];
      ASSERT_NEAR(out[h * c.head_dim + i], want, 2e-5 + 2e-5 * std::fabs(want))
          << name << " " << type_name(type) << " first=" << c.first << " pos=" << c.pos << " head_dim=" << c.head_dim
          << " n_q=" << c.n_q << " h=" << h << " i=" << i;
    }
  }
}

TEST(Attention, KernelsMatchPlainSoftmax) {
  for (const KvType type : {KvType::F32, KvType::F16, KvType::Q8_0})
    for (const int32_t pos : {0, 1, 15, 16, 17, 30, 31, 32, 33, 64, 100})
      for (const int32_t head_dim : {8, 40, 48, 64, 128})
        for (const int32_t n_q : {1, 3, 8}) {
          if (type == KvType::Q8_0 && head_dim % 32 != 0) continue;  // the cache refuses those
          check(detail::attend_group_scalar, {pos, head_dim, n_q}, "scalar", type);
          if (quant::detail::cpu_has_avx2()) check(detail::attend_group_avx2, {pos, head_dim, n_q}, "avx2", type);
          if (quant::detail::cpu_has_avx512() && head_dim % 16 == 0)
            check(tile_of_one, {pos, head_dim, n_q}, "avx512 tile", type);
        }
}

// A sliding window: positions [first, pos] only, the window's start inside, at and across chunk
// boundaries.
TEST(Attention, KernelsHonourSlidingWindow) {
  for (const KvType type : {KvType::F32, KvType::Q8_0})
    for (const auto& [first, pos] : std::vector<std::pair<int32_t, int32_t>>{
             {1, 8}, {5, 12}, {25, 40}, {31, 33}, {32, 63}, {33, 100}, {64, 64}, {90, 100}})
      for (const int32_t head_dim : {32, 64})
        for (const int32_t n_q : {1, 4}) {
          const Case c{pos, head_dim, n_q, first};
          check(detail::attend_group_scalar, c, "scalar", type);
          if (quant::detail::cpu_has_avx2()) check(detail::attend_group_avx2, c, "avx2", type);
          if (quant::detail::cpu_has_avx512()) check(tile_of_one, c, "avx512 tile", type);
        }
}

// Tokens of one sequence at different positions in one tile give the bits each gets alone, with
// and without a sliding window.
TEST(Attention, TileTokensGiveTheirOwnBits) {
  if (!quant::detail::cpu_has_avx512()) GTEST_SKIP() << "no AVX-512";
  for (const KvType type : {KvType::F32, KvType::F16, KvType::Q8_0})
    for (const int32_t n_q : {4, 8, 3, 2, 1})
      for (const int32_t window : {0, 8, 20}) {
        const int32_t head_dim = 64, block_size = 16, n_blocks = 5, kv_dim = 2 * head_dim;
        std::mt19937 rng(7);
        std::normal_distribution<float> dist(0.0f, 1.0f);
        std::vector<float> k(static_cast<size_t>(n_blocks * block_size * kv_dim)), v(k.size());
        for (size_t i = 0; i < k.size(); ++i) {
          k[i] = dist(rng);
          v[i] = dist(rng);
        }
        const Stored stored = store(type, k, v, kv_dim, block_size, head_dim);
        const std::vector<int32_t> table = {3, 0, 4, 1, 2};
        const detail::AttendGroup a = group_over(stored, type, kv_dim, table, block_size, 1, head_dim, n_q);
        // Up to the 32 lanes of the kernel (tiles of 1 to 10 tokens), positions in and out of order.
        for (std::vector<int32_t> pos : {std::vector<int32_t>{40, 41, 42, 43, 44, 45, 46, 47, 48, 49},
                                         {0, 1, 2},
                                         {47, 15, 79, 16, 3, 60, 61, 62},
                                         {31, 32},
                                         {77}}) {
          pos.resize(std::min<size_t>(pos.size(), static_cast<size_t>(detail::kTileLanes / n_q)));
          const int32_t n = static_cast<int32_t>(pos.size());
          std::vector<int32_t> first;
          for (const int32_t p : pos) first.push_back(window > 0 ? std::max(0, p - window + 1) : 0);
          std::vector<std::vector<float>> q(pos.size()), tiled(pos.size());
          std::vector<const float*> qp;
          std::vector<float*> op;
          for (size_t t = 0; t < pos.size(); ++t) {
            for (int i = 0; i < n_q * head_dim; ++i) q[t].push_back(dist(rng));
            tiled[t].assign(q[t].size(), NAN);
            qp.push_back(q[t].data());
            op.push_back(tiled[t].data());
          }
          detail::attend_tile_avx512(a, n, first.data(), pos.data(), qp.data(), op.data());
          for (size_t t = 0; t < pos.size(); ++t) {
            std::vector<float> alone(q[t].size(), NAN);
            const float* q1 = q[t].data();
            float* o1 = alone.data();
            detail::attend_tile_avx512(a, 1, &first[t], &pos[t], &q1, &o1);
            ASSERT_EQ(std::memcmp(alone.data(), tiled[t].data(), alone.size() * sizeof(float)), 0)
                << type_name(type) << " n_q " << n_q << " window " << window << " token at position " << pos[t]
                << " in a tile of " << n;
          }
        }
      }
}

}  // namespace
}  // namespace hayate
