// Per-kernel figures for the decode mat-vec (issue 12): GB/s of weights streamed per matrix shape
// of the Llama-3-8B model, per format, token count and kernel, so the gap to the copy rate is
// measured rather than guessed. Each figure: 20 launches captured in a CUDA graph (no launch
// gaps), cycling over enough copies of the matrix that the 50 MB L2 holds none of them, the
// median of 7 replays. Random bytes as weights (the kernels' speed does not depend on the values).
//
//   cuda_matvec_bench [filter]   # filter: a substring of the kernel name (fast, int8, old, generic),
//                                # or batched (both batched kernels), mma (the tensor-core one)
// HAYATE_CUDA_MATVEC_ROWS=1|2|4 forces the fast kernel's rows per warp (run it once per value).
// "int8" / "int16" are the fast kernel's integer-code paths (int16: the default), each figure
// including the activations' quantize kernel.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"

using namespace hayate::cuda;

#define CK(call)                                                                                 \
  do {                                                                                           \
    cudaError_t e_ = (call);                                                                     \
    if (e_ != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

struct Shape {
  const char* name;
  uint32_t type;
  int64_t rows, cols;
};

int64_t row_bytes(uint32_t type, int64_t cols) {
  switch (type) {
    case kQ4_K:
      return cols / 256 * 144;
    case kQ6_K:
      return cols / 256 * 210;
    case kF16:
      return cols * 2;
    default:
      return cols / 32 * 34;
  }
}

const char* type_name(uint32_t t) { return t == kQ4_K ? "q4_K" : t == kQ6_K ? "q6_K" : t == kF16 ? "f16" : "q8_0"; }

// Copies of one random matrix of `bytes`, enough that together they overflow the 50 MB L2.
std::vector<void*> upload_copies(size_t bytes, std::mt19937_64& rng) {
  std::vector<void*> bufs(std::max<size_t>(2, (size_t{256} << 20) / bytes + 1));
  std::vector<uint64_t> host(bytes / 8 + 1);
  for (auto& v : host) v = rng();
  for (void*& b : bufs) {
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemcpy(b, host.data(), bytes, cudaMemcpyHostToDevice));
  }
  return bufs;
}

// Microseconds per launch: 20 launches (launch(i) for i = 0..19) in a graph, median of 7 replays.
template <typename Launch>
double time_launches(Launch launch, cudaStream_t s, cudaEvent_t e0, cudaEvent_t e1) {
  for (int i = 0; i < 3; ++i) CK(launch(i));
  constexpr int kLaunches = 20;
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < kLaunches; ++i) CK(launch(i));
  CK(cudaStreamEndCapture(s, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s));  // warm
  std::vector<float> ms;
  for (int r = 0; r < 7; ++r) {
    CK(cudaEventRecord(e0, s));
    CK(cudaGraphLaunch(ge, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float t = 0;
    CK(cudaEventElapsedTime(&t, e0, e1));
    ms.push_back(t / kLaunches);
  }
  CK(cudaGraphExecDestroy(ge));
  CK(cudaGraphDestroy(g));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2] * 1e3;
}

int main(int argc, char** argv) {
  const std::string filter = argc > 1 ? argv[1] : "";
  const char* forced = std::getenv("HAYATE_CUDA_MATVEC_ROWS");
  const std::vector<Shape> shapes = {
      {"attn_q/o", kQ4_K, 4096, 4096},  {"attn_k", kQ4_K, 1024, 4096},   {"ffn_gate/up", kQ4_K, 14336, 4096},
      {"ffn_down", kQ4_K, 4096, 14336}, {"output", kQ6_K, 128256, 4096}, {"ffn_down", kQ6_K, 4096, 14336},
      {"attn_v", kQ6_K, 1024, 4096},    {"attn_q/o", kQ8_0, 4096, 4096}, {"ffn_gate/up", kQ8_0, 14336, 4096},
      {"attn_q/o", kF16, 4096, 4096},   {"attn_k", kF16, 1024, 4096},    {"ffn_gate/up", kF16, 14336, 4096},
      {"ffn_down", kF16, 4096, 14336},
  };
  const std::vector<int> token_counts = {1, 2, 4, 8};
  std::mt19937_64 rng(7);
  float* x = nullptr;
  float* out = nullptr;
  CK(cudaMalloc(&x, 8 * 14336 * sizeof(float)));
  CK(cudaMalloc(&out, 8 * 128256 * sizeof(float)));
  void* q8_scratch = nullptr;
  CK(cudaMalloc(&q8_scratch, act_q8_bytes(8, 14336, true)));
  {
    std::vector<float> hx(8 * 14336);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (float& v : hx) v = nd(rng);
    CK(cudaMemcpy(x, hx.data(), hx.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  std::printf("kernel rows/warp | format | matrix | rows x cols | tokens | us | weight GB/s\n");
  for (const Shape& sh : filter == "batched" || filter == "mma" ? std::vector<Shape>{} : shapes) {
    const int64_t rb = row_bytes(sh.type, sh.cols);
    const size_t bytes = static_cast<size_t>(rb) * sh.rows;
    const std::vector<void*> bufs = upload_copies(bytes, rng);
    const int copies = static_cast<int>(bufs.size());
    for (const int nt : token_counts) {
      struct Variant {
        const char* name;
        int kind;  // 0 fast, 1 old (Q4_K kernel), 2 old generic, 3 / 4 fast with int8 / int16 activations
      };
      for (const Variant v : {Variant{"fast", 0}, Variant{"int8", 3}, Variant{"int16", 4}, Variant{"old", 1},
                              Variant{"generic", 2}}) {
        if (!filter.empty() && std::string(v.name).find(filter) == std::string::npos) continue;
        if (v.kind == 2 && sh.type != kQ4_K) continue;  // "old" is already the generic kernel
        if (sh.type == kF16 && v.kind != 1) continue;   // F16 has one kernel (matvec_half_vec)
        const bool fast = v.kind == 0 || v.kind == 3 || v.kind == 4;
        if (forced && !fast) continue;
        const ActQ8 q8 = act_q8_in(q8_scratch, nt, sh.cols, v.kind == 4);
        auto launch = [&](int i) {
          const DevWeight w{bufs[i % copies], sh.type, sh.rows, sh.cols, rb};
          if (fast) return matvec_fast(w, x, sh.cols, nt, out, sh.rows, nullptr, s, v.kind >= 3 ? &q8 : nullptr);
          return matvec(w, x, sh.cols, nt, out, sh.rows, nullptr, v.kind == 1, s);
        };
        const double us = time_launches(launch, s, e0, e1);
        std::printf("%s %s | %s | %s | %lld x %lld | %d | %.2f | %.0f\n", v.name,
                    fast ? (forced ? forced : "auto") : "-", type_name(sh.type), sh.name,
                    static_cast<long long>(sh.rows), static_cast<long long>(sh.cols), nt, us, bytes / (us * 1e3));
      }
    }
    for (void* b : bufs) CK(cudaFree(b));
  }
  // The batched kernels (f16 activations): the older one (with and without its L2 prefetch, up to
  // 64 tokens) and the tensor-core one (1 or 2 blocks a SM, up to 512 tokens).
  // `batched` runs both, `mma` only the tensor-core kernel.
  if (filter == "batched" || filter == "mma") {
    constexpr int64_t kMaxTokens = 512;
    void* xh = nullptr;
    float* partial = nullptr;
    CK(cudaMalloc(&xh, kMaxTokens * 14336 * 2));
    CK(cudaMemset(xh, 0x3c, kMaxTokens * 14336 * 2));  // 0x3c3c: f16 1.05 (the speed does not depend on it)
    CK(cudaMalloc(&partial, size_t{16} * 64 * 128256 * sizeof(float)));
    float* big_out = nullptr;
    CK(cudaMalloc(&big_out, size_t{kMaxTokens} * 128256 * sizeof(float)));
    for (const Shape& sh : shapes) {
      if (sh.type == kF16) continue;
      const int64_t rb = row_bytes(sh.type, sh.cols);
      const size_t bytes = static_cast<size_t>(rb) * sh.rows;
      const std::vector<void*> bufs = upload_copies(bytes, rng);
      const int copies = static_cast<int>(bufs.size());
      for (const int nt : {16, 32, 64, 128, 512}) {
        if (sh.rows > 100000 && nt > 64) continue;      // the output layer runs at decode steps only
        for (const int variant : {0, 1, 2, 3, 4, 5}) {  // old, +prefetch, mma 2/1 blocks; f32-decoding ones
          const bool mma = variant >= 2;
          if ((!mma && (filter == "mma" || nt > 64 || sh.type == kQ8_0))) continue;
          BatchedPlan plan =
              mma ? plan_mma(sh.rows, sh.cols, nt, variant % 2 == 0 ? 2 : 1) : plan_batched(sh.rows, sh.cols, nt, 128);
          plan.prefetch = variant == 1;
          plan.exact = variant >= 4;
          if (plan.partial_floats > size_t{16} * 64 * 128256) continue;
          auto launch = [&](int i) {
            const DevWeight w{bufs[i % copies], sh.type, sh.rows, sh.cols, rb};
            return mma ? matmul_mma(w, xh, nt, big_out, sh.rows, nullptr, plan, partial, s)
                       : matmul_batched(w, xh, nt, big_out, sh.rows, nullptr, plan, partial, s);
          };
          const double us = time_launches(launch, s, e0, e1);
          static const char* const kNames[] = {"batched", "batched+prefetch", "mma/2",
                                               "mma/1",   "mma-exact/2",      "mma-exact/1"};
          std::printf("%s %d splits | %s | %s | %lld x %lld | %d | %.2f | %.0f | %.1f TFLOP/s\n", kNames[variant],
                      plan.splits, type_name(sh.type), sh.name, static_cast<long long>(sh.rows),
                      static_cast<long long>(sh.cols), nt, us, bytes / (us * 1e3),
                      2.0 * sh.rows * sh.cols * nt / (us * 1e6));
        }
      }
      for (void* b : bufs) CK(cudaFree(b));
    }
  }
  CK(cudaStreamSynchronize(s));
  return 0;
}
