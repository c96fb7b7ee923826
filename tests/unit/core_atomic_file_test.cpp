// The atomic writer (core/atomic_file.h): a file appears whole or not at all, and a full disk
// (simulated by HAYATE_FAULT_DISK_FULL_AFTER) is a clear error that leaves the old file as it was
// and no temporary file behind.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_util.h"

namespace hayate {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

std::string fresh_dir(const std::string& name) {
  const std::string dir = test::temp_path(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(AtomicFile, WritesAndReplacesWhole) {
  const std::string dir = fresh_dir("atomic-replace");
  const std::string path = dir + "/state.json";
  write_file_atomically(path, "first");
  EXPECT_EQ(slurp(path), "first");
  const std::string big(3 << 20, 'x');  // over the writer's buffer: written in several pieces
  write_file_atomically(path, big);
  EXPECT_EQ(slurp(path), big);
  EXPECT_EQ(files_in(dir), 1u);  // no temporary file left
}

TEST(AtomicFile, DiskFullKeepsTheOldFileAndLeavesNoPartialOne) {
  const std::string dir = fresh_dir("atomic-full");
  const std::string path = dir + "/cache.bin";
  write_file_atomically(path, "old contents");
  ::setenv("HAYATE_FAULT_DISK_FULL_AFTER", "4096", 1);
  for (const size_t size : {size_t{5000}, size_t{2} << 20}) {  // failing at commit, and while buffering
    try {
      write_file_atomically(path, std::string(size, 'n'));
      ADD_FAILURE() << "a write past the simulated full disk should fail";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::ResourceExhausted);
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(path + ": cannot write ", 0), 0u) << what;
      EXPECT_NE(what.find("No space left on device"), std::string::npos) << what;
      EXPECT_NE(what.find("free some space"), std::string::npos) << what;
    }
    EXPECT_EQ(slurp(path), "old contents");
    EXPECT_EQ(files_in(dir), 1u);
  }
  write_file_atomically(path, std::string(4096, 'y'));  // exactly the limit still fits
  ::unsetenv("HAYATE_FAULT_DISK_FULL_AFTER");
  EXPECT_EQ(slurp(path), std::string(4096, 'y'));
}

TEST(AtomicFile, MissingFolderIsNotFound) {
  const std::string path = test::temp_path("atomic-no-such-dir") + "/sub/file";
  try {
    write_file_atomically(path, "x");
    ADD_FAILURE() << "writing into a missing folder should fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, UncommittedFileLeavesNothing) {
  const std::string dir = fresh_dir("atomic-abandon");
  {
    AtomicFile f(dir + "/never.bin");
    f.write("abc", 3);
    EXPECT_EQ(f.written(), 3u);
  }
  EXPECT_EQ(files_in(dir), 0u);
}

}  // namespace
}  // namespace hayate
