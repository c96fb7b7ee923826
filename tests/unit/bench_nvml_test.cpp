#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "bench/resource_sampler.h"

namespace hayate::bench {

TEST(BenchNvml, AbsentLibraryIsSkippedWithAReason) {
  std::string why;
  EXPECT_EQ(Nvml::open(why, "libhayate-no-such-nvml.so.1"), nullptr);
  EXPECT_NE(why.find("libhayate-no-such-nvml.so.1 cannot be loaded"), std::string::npos) << why;
  EXPECT_NE(why.find("skipped"), std::string::npos) << why;
}

TEST(BenchNvml, LibraryWithoutNvmlFunctionsIsSkipped) {
  std::string why;
  EXPECT_EQ(Nvml::open(why, "libz.so.1"), nullptr);  // loads, but is not NVML
  EXPECT_NE(why.find("has no nvmlInit_v2"), std::string::npos) << why;
}

TEST(BenchNvml, SampleWithoutGpuLeavesGpuFieldsEmpty) {
  std::string why;
  const auto nvml = Nvml::open(why);
  if (nvml) GTEST_SKIP() << "this machine has NVML and " << nvml->device_count() << " GPU(s)";
  ResourceSample s;
  ProcessProbe probe(::getpid());
  probe.sample(s);
  EXPECT_FALSE(s.gpu_util_pct);
  EXPECT_FALSE(s.gpu_mem_bytes);
  EXPECT_FALSE(s.gpu_power_w);
}

TEST(BenchProcessProbe, ReadsCpuAndResidentMemoryOfAProcess) {
  ProcessProbe probe(::getpid());
  ResourceSample first, second;
  probe.sample(first);
  ASSERT_TRUE(first.rss_bytes);
  EXPECT_GT(*first.rss_bytes, 1u << 20);
  EXPECT_FALSE(first.cpu_pct);  // needs an interval
  // Busy until the process has used 300 ms of CPU, however loaded the machine is; the probe's
  // share must match the share this process measured of itself over the same interval.
  volatile double x = 0;
  const std::clock_t cpu0 = std::clock();
  const auto wall0 = std::chrono::steady_clock::now();
  while (std::clock() - cpu0 < CLOCKS_PER_SEC * 3 / 10) x = x + 1e-9;
  probe.sample(second);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double own = 100.0 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / wall;
  ASSERT_TRUE(second.cpu_pct);
  EXPECT_GT(*second.cpu_pct, 0.5 * own) << "own measure " << own << "%";
  EXPECT_LT(*second.cpu_pct, 1.5 * own + 10.0) << "own measure " << own << "%";

  ProcessProbe gone(999999999);
  ResourceSample none;
  gone.sample(none);
  EXPECT_FALSE(none.rss_bytes);
  EXPECT_FALSE(none.cpu_pct);
}

}  // namespace hayate::bench

namespace hayate::bench {

TEST(BenchNvml, FakeGpusGivePowerTemperatureAndUseThatChangeBetweenSamples) {
  std::string why;
  const auto nvml = Nvml::open(why, HAYATE_FAKE_NVML);
  ASSERT_NE(nvml, nullptr) << why;
  EXPECT_EQ(nvml->device_count(), 2u);
  ResourceSample a, b;
  nvml->sample(a);
  b.t_s = 2;
  nvml->sample(b);
  ASSERT_TRUE(a.gpu_power_w && a.gpu_temp_c && a.gpu_util_pct && a.gpu_mem_util_pct && a.gpu_mem_bytes);
  ASSERT_TRUE(b.gpu_power_w && b.gpu_temp_c);
  EXPECT_DOUBLE_EQ(*b.gpu_power_w - *a.gpu_power_w, 20.0);  // two GPUs, each 10 W more
  EXPECT_DOUBLE_EQ(*b.gpu_temp_c - *a.gpu_temp_c, 1.0);     // the hottest GPU
  EXPECT_DOUBLE_EQ(*a.gpu_temp_c, 55.0 + (*a.gpu_util_pct - 40.0));
  EXPECT_DOUBLE_EQ(*b.gpu_mem_util_pct - *a.gpu_mem_util_pct, 1.0);
  EXPECT_EQ(*a.gpu_mem_bytes, 3ull << 30);  // 1 GiB + 2 GiB
  const ResourceSummary s = summarize_resources({a, b}, 2.0, 100, 50.0);
  ASSERT_TRUE(s.energy_per_output_token_j && s.peak_gpu_temp_c);
  EXPECT_DOUBLE_EQ(*s.energy_j, (*a.gpu_power_w + *b.gpu_power_w) / 2 * 2.0);
  EXPECT_DOUBLE_EQ(*s.energy_per_output_token_j, *s.energy_j / 100);
  EXPECT_EQ(s.memory_basis, "gpu");
}

}  // namespace hayate::bench
