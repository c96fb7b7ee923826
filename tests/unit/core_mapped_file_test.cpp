// MappedFile::release: pages copied elsewhere leave resident memory, and the file's bytes read
// back unchanged afterwards.
#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "core/mapped_file.h"
#include "support/test_util.h"

namespace hayate {
namespace {

TEST(MappedFile, ReleaseDropsPagesAndKeepsTheBytes) {
  constexpr size_t kBytes = 64u << 20;
  const std::string path = test::temp_path("mapped.bin");
  {
    std::vector<uint8_t> bytes(kBytes);
    for (size_t i = 0; i < kBytes; ++i) bytes[i] = static_cast<uint8_t>(i * 131 + (i >> 12));
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), kBytes);
  }
  MappedFile f(path);
  ASSERT_EQ(f.size(), kBytes);
  const size_t before = resident_memory_bytes();
  uint64_t sum = 0;
  for (size_t i = 0; i < kBytes; i += 4096) sum += f.data()[i];  // fault every page in
  const size_t touched = resident_memory_bytes();
  EXPECT_GT(touched, before + kBytes * 9 / 10) << "touching the mapping should make it resident";

  f.release(f.data() + 1, kBytes - 1);  // not page-aligned: the whole pages inside go
  const size_t released = resident_memory_bytes();
  EXPECT_LT(released, touched - kBytes * 9 / 10) << "release should drop the pages";

  uint64_t again = 0;
  for (size_t i = 0; i < kBytes; i += 4096) again += f.data()[i];
  EXPECT_EQ(again, sum);
  for (size_t i : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, kBytes / 2 + 3, kBytes - 1})
    EXPECT_EQ(f.data()[i], static_cast<uint8_t>(i * 131 + (i >> 12))) << "byte " << i;

  // Ranges outside the mapping are ignored.
  const uint8_t outside[16] = {};
  f.release(outside, sizeof outside);
  EXPECT_EQ(f.data()[0], 0);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace hayate
