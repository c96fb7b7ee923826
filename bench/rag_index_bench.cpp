// Search latency of a collection's index at scale (issue 15: 1,000,000 random 384-d vectors,
// IVF4096 at nprobe 16, p99 <= 5 ms on 2 cores). Builds the index through rag::VectorIndex as a
// collection does (strided training sample, cosine), then times single-query searches.
//   rag_index_bench [--n 1000000] [--dim 384] [--index IVF4096,Flat] [--nprobe 16] [--queries 2000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "rag/index.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 1000000, queries = 2000;
  int32_t dim = 384, nprobe = 16;
  std::string index = "IVF4096,Flat";
  constexpr const char* kUsage =
      "usage: rag_index_bench [--n 1000000] [--dim 384] [--index IVF4096,Flat] [--nprobe 16] [--queries 2000]\n";
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "rag_index_bench: %s wants a value\n%s", flag.c_str(), kUsage);
      return 2;
    }
    const std::string value = argv[i + 1];
    if (flag == "--n")
      n = std::atoll(value.c_str());
    else if (flag == "--dim")
      dim = std::atoi(value.c_str());
    else if (flag == "--index")
      index = value;
    else if (flag == "--nprobe")
      nprobe = std::atoi(value.c_str());
    else if (flag == "--queries")
      queries = std::atoll(value.c_str());
    else {
      std::fprintf(stderr, "rag_index_bench: unknown flag %s\n%s", flag.c_str(), kUsage);
      return 2;
    }
  }
  try {
    hayate::rag::CollectionInfo info;
    info.name = "bench";
    info.index = index;
    info.dim = dim;
    info.nprobe = index.rfind("IVF", 0) == 0 ? nprobe : 0;
    hayate::rag::VectorIndex vi(info);
    std::mt19937 rng(1);
    std::normal_distribution<float> g;
    std::vector<float> data(static_cast<size_t>(n) * static_cast<size_t>(dim));
    for (float& x : data) x = g(rng);
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i + 1;
    auto t = Clock::now();
    vi.rebuild(ids, std::move(data), 1);
    std::printf("built %s over %lld x %d in %.1f s (trained on %lld)\n", index.c_str(), static_cast<long long>(n), dim,
                seconds_since(t), static_cast<long long>(vi.trained_on()));
    std::vector<double> ms;
    for (int64_t q = 0; q < queries; ++q) {
      std::vector<float> query(static_cast<size_t>(dim));
      for (float& x : query) x = g(rng);
      t = Clock::now();
      const auto hits = vi.search(std::move(query), 10);
      ms.push_back(seconds_since(t) * 1000);
      if (hits.size() != 10) {
        std::fprintf(stderr, "a search found %zu hits, not 10\n", hits.size());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double p) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))];
    };
    std::printf("%lld searches, top 10, nprobe %d: p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
                static_cast<long long>(queries), nprobe, at(0.5), at(0.99), ms.back());
  } catch (const hayate::Error& e) {
    std::fprintf(stderr, "rag_index_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
