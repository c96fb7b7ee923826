// The NVML reader behind the GPU figures of /metrics: a library that is missing or lacks a
// function gives no reader and says why; a working one (a stand-in with one GPU, as the test
// machines have none) gives that GPU's memory and utilisation.
#include <gtest/gtest.h>

#include "core/gpu_stats.h"

using namespace hayate;

TEST(GpuStats, AMissingLibraryGivesNoReaderAndSaysWhy) {
  std::string why;
  EXPECT_EQ(GpuStats::open("/nonexistent/libnvidia-ml.so.1", why), nullptr);
  EXPECT_NE(why.find("/nonexistent/libnvidia-ml.so.1 cannot be loaded"), std::string::npos) << why;
}

TEST(GpuStats, ALibraryWithoutNvmlGivesNoReader) {
  std::string why;
  EXPECT_EQ(GpuStats::open("libc.so.6", why), nullptr);
  EXPECT_NE(why.find("has no nvmlInit_v2"), std::string::npos) << why;
}

TEST(GpuStats, ReadsEachGpu) {
  std::string why;
  const auto gpus = GpuStats::open(HAYATE_FAKE_NVML, why);
  ASSERT_NE(gpus, nullptr) << why;
  const auto r = gpus->read();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].index, 0u);
  EXPECT_EQ(r[0].memory_used, 12884901888ull);
  EXPECT_EQ(r[0].memory_total, 85899345920ull);
  EXPECT_DOUBLE_EQ(r[0].utilization, 0.42);
}
