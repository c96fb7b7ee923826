// The attention kernels (chunked online softmax over a paged KV layout) against a plain
// double-precision softmax(q·K^T / sqrt(d)) V, for context lengths around the chunk size,
// several head sizes and query-group sizes; the AVX2 kernel where the CPU has it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/attention_kernels.h"
#include "quant/kernels.h"

namespace hayate {
namespace {

struct Case {
  int32_t pos, head_dim, n_q;
};

void check(void (*kernel)(const detail::AttendGroup&), const Case& c, const char* name) {
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

  detail::AttendGroup a;
  a.k_base = k.data();
  a.v_base = v.data();
  a.kv_dim = kv_dim;
  a.block_table = table.data();
  a.block_size = block_size;
  a.pos = c.pos;
  a.kv_head = kv_head;
  a.head_dim = c.head_dim;
  a.n_q = c.n_q;
  a.q = q.data();
  a.out = out.data();
  kernel(a);

  for (int32_t h = 0; h < c.n_q; ++h) {
    std::vector<double> s(static_cast<size_t>(c.pos) + 1);
    double max_s = -INFINITY, sum = 0;
    auto slot = [&](int32_t p) { return static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size; };
    for (int32_t p = 0; p <= c.pos; ++p) {
      double d = 0;
      for (int32_t i = 0; i < c.head_dim; ++i)
        d += static_cast<double>(q[h * c.head_dim + i]) * k[slot(p) * kv_dim + kv_head * c.head_dim + i];
      s[p] = d / std::sqrt(static_cast<double>(c.head_dim));
      max_s = std::max(max_s, s[p]);
    }
    for (double& x : s) sum += (x = std::exp(x - max_s));
    for (int32_t i = 0; i < c.head_dim; ++i) {
      double want = 0;
      for (int32_t p = 0; p <= c.pos; ++p) want += s[p] / sum * v[slot(p) * kv_dim + kv_head * c.head_dim + i];
      ASSERT_NEAR(out[h * c.head_dim + i], want, 2e-5 + 2e-5 * std::fabs(want))
          << name << " pos=" << c.pos << " head_dim=" << c.head_dim << " n_q=" << c.n_q << " h=" << h << " i=" << i;
    }
  }
}

TEST(Attention, KernelsMatchPlainSoftmax) {
  for (const int32_t pos : {0, 1, 30, 31, 32, 33, 64, 100})
    for (const int32_t head_dim : {8, 40, 64, 128})
      for (const int32_t n_q : {1, 3, 8}) {
        check(detail::attend_group_scalar, {pos, head_dim, n_q}, "scalar");
        if (quant::detail::cpu_has_avx2()) check(detail::attend_group_avx2, {pos, head_dim, n_q}, "avx2");
      }
}

}  // namespace
}  // namespace hayate
