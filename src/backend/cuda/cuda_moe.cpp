// The CUDA backend's mixture-of-experts feed-forward (see cuda_backend.h). The tokens' inputs are
// gathered in expert order (backend/moe.h ExpertGroups) into one array, each expert runs on its
// slice of it through the backend's own matmul_swiglu and matmul (the experts' weights are views
// of the stacked uploads), and a kernel sums each token's outputs in its routing order. The
// routing itself is the CPU backends' (route_tokens) over the router's logits copied to the host.
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/moe.h"
#include "core/error.h"

namespace hayate::cuda {

void CudaBackend::moe_ffn(const MoeFfn& f, Tensor x, Tensor out) {
  check_moe_ffn(f, x, out);
  if (x.rows == 0) return;
  // The logits are read back below and decide the launches after them: no graph for this step.
  if (steps_.recording()) steps_.set_eager_host_read();
  const size_t mark = scratch_.mark();
  Tensor logits = alloc(x.rows, f.n_expert);
  matmul(*f.router, x, logits, nullptr);
  router_logits_.resize(static_cast<size_t>(x.rows * f.n_expert));
  to_host(logits, router_logits_.data());
  const Routing r = route_tokens(router_logits_.data(), x.rows, f.n_expert, f.n_used, f.norm_weights);
  const ExpertGroups g = group_by_expert(r, f.n_expert);
  const auto n_pairs = static_cast<int64_t>(g.token_of_row.size());

  Tensor xs = alloc(n_pairs, x.cols);  // the inputs, expert by expert
  copy_rows(x, g.token_of_row, xs);
  Tensor ys = alloc(n_pairs, x.cols);  // the experts' outputs, in the same order
  for (int32_t e = 0; e < f.n_expert; ++e) {
    const int64_t first = g.begin[static_cast<size_t>(e)];
    const int64_t n = g.begin[static_cast<size_t>(e) + 1] - first;
    if (n == 0) continue;
    const Weight gate = expert_matrix(*f.gate, f.n_expert, e);
    const Weight up = expert_matrix(*f.up, f.n_expert, e);
    const Weight down = expert_matrix(*f.down, f.n_expert, e);
    const size_t expert_mark = scratch_.mark();
    const Tensor xe{xs.data + first * x.cols, n, x.cols};
    const Tensor ye{ys.data + first * x.cols, n, x.cols};
    Tensor act = alloc(n, gate.rows);
    matmul_swiglu(gate, up, xe, act);
    matmul(down, act, ye, nullptr);
    scratch_release(expert_mark);
  }

  const auto* rows = static_cast<const int32_t*>(upload(g.row_of_pair.data(), g.row_of_pair.size() * sizeof(int32_t)));
  const auto* weights = static_cast<const float*>(upload(r.weight.data(), r.weight.size() * sizeof(float)));
  const int32_t k = r.k;
  Timed t(*this, "gpu moe weighted sum");
  launch(
      [=, this] {
        check(moe_weighted_sum(ys.data, ys.cols, rows, weights, x.rows, k, x.cols, out.data, out.cols, stream_),
              "moe_weighted_sum kernel");
      },
      "moe_weighted_sum", ys.data, ys.cols, rows, weights, x.rows, k, x.cols, out.data, out.cols);
  scratch_.release(mark);
}

}  // namespace hayate::cuda
