#include "backend/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.h"

namespace hayate {

void check_moe_ffn(const MoeFfn& f, Tensor x, Tensor out) {
  if (!f.router || !f.gate || !f.up || !f.down || f.n_expert <= 0 || f.n_used <= 0 || f.n_used > f.n_expert)
    fail(ErrorKind::Internal, "moe_ffn: incomplete expert weights or routing sizes");
  if (f.router->rows != f.n_expert || f.router->cols != x.cols || out.cols != x.cols || out.rows != x.rows)
    fail(ErrorKind::Internal, "moe_ffn: the router or the output does not match the hidden size");
}

namespace {

std::vector<float> router_logits(Backend& be, const MoeFfn& f, Tensor x) {
  Tensor logits = be.alloc(x.rows, f.n_expert);
  be.matmul(*f.router, x, logits);
  std::vector<float> host(static_cast<size_t>(x.rows * f.n_expert));
  be.to_host(logits, host.data());
  return host;
}

// y (rows x n_embd) = down(silu(gate x) * up x) of expert e for the rows of x.
void run_expert(Backend& be, const MoeFfn& f, int32_t e, Tensor x, Tensor y) {
  const Weight gate = expert_matrix(*f.gate, f.n_expert, e);
  const Weight up = expert_matrix(*f.up, f.n_expert, e);
  const Weight down = expert_matrix(*f.down, f.n_expert, e);
  Tensor act = be.alloc(x.rows, gate.rows);
  be.matmul_swiglu(gate, up, x, act);
  be.matmul(down, act, y);
}

// out[t] = sum_j weight[t, j] * outputs[t * k + j], in j order, written to the backend's out.
void weighted_sum(Backend& be, const Routing& r, const std::vector<float>& outputs, Tensor out) {
  std::vector<float> sum(static_cast<size_t>(out.rows * out.cols), 0.0f);
  for (int64_t t = 0; t < out.rows; ++t)
    for (int32_t j = 0; j < r.k; ++j) {
      const size_t pair = static_cast<size_t>(t * r.k + j);
      const float w = r.weight[pair];
      const float* y = outputs.data() + pair * static_cast<size_t>(out.cols);
      float* o = sum.data() + t * out.cols;
      for (int64_t i = 0; i < out.cols; ++i) o[i] += w * y[i];
    }
  be.from_host(sum.data(), out);
}

}  // namespace

Routing route_tokens(const float* logits, int64_t n_tokens, int32_t n_expert, int32_t k, bool norm_weights) {
  Routing r;
  r.k = k;
  r.expert.resize(static_cast<size_t>(n_tokens * k));
  r.weight.resize(static_cast<size_t>(n_tokens * k));
  std::vector<int32_t> order(static_cast<size_t>(n_expert));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* l = logits + t * n_expert;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    // softmax over all experts; only the chosen probabilities are kept.
    double denom = 0.0;
    for (int32_t e = 0; e < n_expert; ++e) denom += std::exp(static_cast<double>(l[e]) - l[order[0]]);
    double chosen = 0.0;
    for (int32_t j = 0; j < k; ++j) chosen += std::exp(static_cast<double>(l[order[j]]) - l[order[0]]) / denom;
    for (int32_t j = 0; j < k; ++j) {
      const double p = std::exp(static_cast<double>(l[order[j]]) - l[order[0]]) / denom;
      r.expert[static_cast<size_t>(t * k + j)] = order[j];
      r.weight[static_cast<size_t>(t * k + j)] = static_cast<float>(norm_weights ? p / chosen : p);
    }
  }
  return r;
}

ExpertGroups group_by_expert(const Routing& r, int32_t n_expert) {
  ExpertGroups g;
  const size_t n_pairs = r.expert.size();
  g.begin.assign(static_cast<size_t>(n_expert) + 1, 0);
  for (int32_t e : r.expert) {
    if (e < 0 || e >= n_expert) fail(ErrorKind::Internal, "moe_ffn: routed to expert " + std::to_string(e));
    ++g.begin[static_cast<size_t>(e) + 1];
  }
  for (size_t e = 0; e < static_cast<size_t>(n_expert); ++e) g.begin[e + 1] += g.begin[e];
  g.pair_of_row.resize(n_pairs);
  g.token_of_row.resize(n_pairs);
  g.row_of_pair.resize(n_pairs);
  std::vector<int32_t> next(g.begin.begin(), g.begin.end() - 1);
  for (size_t p = 0; p < n_pairs; ++p) {
    const int32_t row = next[static_cast<size_t>(r.expert[p])]++;
    g.pair_of_row[static_cast<size_t>(row)] = static_cast<int32_t>(p);
    g.token_of_row[static_cast<size_t>(row)] = static_cast<int32_t>(p / static_cast<size_t>(r.k));
    g.row_of_pair[p] = row;
  }
  return g;
}

void moe_ffn_per_expert(Backend& be, const MoeFfn& f, Tensor x, Tensor out) {
  check_moe_ffn(f, x, out);
  const Routing r = route_tokens(router_logits(be, f, x).data(), x.rows, f.n_expert, f.n_used, f.norm_weights);
  const ExpertGroups g = group_by_expert(r, f.n_expert);
  std::vector<float> outputs(r.expert.size() * static_cast<size_t>(x.cols));
  std::vector<float> y_host;
  for (int32_t e = 0; e < f.n_expert; ++e) {
    const int32_t first = g.begin[static_cast<size_t>(e)];
    const int64_t n = g.begin[static_cast<size_t>(e) + 1] - first;
    if (n == 0) continue;
    const size_t mark = be.scratch_mark();
    Tensor xe = be.alloc(n, x.cols);
    be.copy_rows(
        x, std::span<const int32_t>(g.token_of_row).subspan(static_cast<size_t>(first), static_cast<size_t>(n)), xe);
    Tensor y = be.alloc(n, x.cols);
    run_expert(be, f, e, xe, y);
    y_host.resize(static_cast<size_t>(n * x.cols));
    be.to_host(y, y_host.data());
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(y_host.data() + i * x.cols, x.cols,
                  outputs.data() + static_cast<size_t>(g.pair_of_row[static_cast<size_t>(first + i)]) * x.cols);
    be.scratch_release(mark);
  }
  weighted_sum(be, r, outputs, out);
}

void moe_ffn_per_token(Backend& be, const MoeFfn& f, Tensor x, Tensor out) {
  check_moe_ffn(f, x, out);
  Routing r;
  std::vector<float> outputs;
  for (int64_t t = 0; t < x.rows; ++t) {
    const size_t mark = be.scratch_mark();
    const int32_t row = static_cast<int32_t>(t);
    Tensor xt = be.alloc(1, x.cols);
    be.copy_rows(x, std::span<const int32_t>(&row, 1), xt);
    const Routing rt = route_tokens(router_logits(be, f, xt).data(), 1, f.n_expert, f.n_used, f.norm_weights);
    r.k = rt.k;
    r.expert.insert(r.expert.end(), rt.expert.begin(), rt.expert.end());
    r.weight.insert(r.weight.end(), rt.weight.begin(), rt.weight.end());
    Tensor y = be.alloc(1, x.cols);
    for (int32_t j = 0; j < rt.k; ++j) {
      run_expert(be, f, rt.expert[static_cast<size_t>(j)], xt, y);
      outputs.resize(outputs.size() + static_cast<size_t>(x.cols));
      be.to_host(y, outputs.data() + outputs.size() - static_cast<size_t>(x.cols));
    }
    be.scratch_release(mark);
  }
  weighted_sum(be, r, outputs, out);
}

void Backend::moe_ffn(const MoeFfn& f, Tensor x, Tensor out) { moe_ffn_per_expert(*this, f, x, out); }

}  // namespace hayate
