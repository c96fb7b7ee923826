// Lookup latency of the response cache's stores: p50/p99 of hits through cache::Cache (the path a
// request takes: SHA-256 of the key, the store's get, decompression when on), in-process and,
// given a Redis URL, through Redis. Usage: cache_latency_bench [redis://HOST:PORT]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "cache/memory_store.h"

namespace {

using hayate::cache::Cache;

void measure(const char* label, Cache& cache, int n_keys, int lookups) {
  // A chat completion body of about 1.5 KB, as the response cache keeps them.
  std::string value = R"({"id":"chatcmpl-x","object":"chat.completion","choices":[{"message":{"content":")";
  while (value.size() < 1500) value += "a sentence of the answer, ";
  value += R"("}}]})";
  for (int i = 0; i < n_keys; ++i) cache.put("request " + std::to_string(i), value);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(lookups));
  for (int i = 0; i < lookups; ++i) {
    const std::string key = "request " + std::to_string(i % n_keys);
    const auto t0 = std::chrono::steady_clock::now();
    const auto hit = cache.get(key);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    if (!hit) std::fprintf(stderr, "%s: a miss on %s\n", label, key.c_str());
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<size_t>(q * static_cast<double>(us.size() - 1))]; };
  std::printf("%-28s %6d lookups  p50 %8.2f us  p99 %8.2f us  max %8.2f us\n", label, lookups, at(0.5), at(0.99),
              us.back());
}

}  // namespace

int main(int argc, char** argv) {
  {
    hayate::cache::MemoryLimits limits;
    limits.max_entries = 1000;
    Cache plain("response", std::make_shared<hayate::cache::MemoryStore>(limits), 3600);
    measure("memory", plain, 1000, 100000);
    limits.compress = true;
    Cache packed("response", std::make_shared<hayate::cache::MemoryStore>(limits), 3600);
    measure("memory, zstd values", packed, 1000, 100000);
  }
  if (argc > 1) {
    Cache redis("bench", hayate::cache::make_store(argv[1]), 3600);
    measure("redis (loopback)", redis, 1000, 20000);
    redis.clear();
  }
  return 0;
}
