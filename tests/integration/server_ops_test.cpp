// Operations (issue 22): the log of a long-running `hayate serve` in a file rotated by size, a
// timing line per request (to the first token, then generating) and the slow-request warning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/server_harness.h"

namespace hayate::test {
namespace {

TEST(ServerOps, LogFileRotatesBySizeWithATimingLinePerRequest) {
  const std::string dir = temp_path("logs");
  std::filesystem::create_directories(dir);
  const std::string log = dir + "/hayate.log";
  ServerProcess s({"--log-file", log, "--log-max-bytes", "4096", "--log-files", "2", "--slow-request-ms", "0"});
  const std::string body =
      nlohmann::json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 3}}.dump();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(http_post(s.port(), "/v1/chat/completions", body).status, 200);
  EXPECT_EQ(s.stop(), 0);

  // Rotated: the current file and at most two old ones, none much over the limit.
  EXPECT_TRUE(std::filesystem::exists(log));
  EXPECT_TRUE(std::filesystem::exists(dir + "/hayate.1.log"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/hayate.2.log"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/hayate.3.log"));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) EXPECT_LE(entry.file_size(), 4096u + 1024u);

  // The log went to the file, not to stderr.
  const std::string text = read_file(log) + read_file(dir + "/hayate.1.log");
  EXPECT_EQ(s.log().find("path=/v1/chat/completions"), std::string::npos) << s.log();
  const size_t line = text.find("path=/v1/chat/completions status=200");
  ASSERT_NE(line, std::string::npos) << text;
  const std::string timing = text.substr(line, text.find('\n', line) - line);
  EXPECT_NE(timing.find("first_token_ms="), std::string::npos) << timing;
  EXPECT_EQ(timing.find("first_token_ms=-1"), std::string::npos) << timing;  // the request generated tokens
  EXPECT_NE(timing.find("generation_ms="), std::string::npos) << timing;
  EXPECT_NE(text.find("slow request:"), std::string::npos) << text;  // over --slow-request-ms 0
}

// A folder that cannot be made (a file stands where it would be; spdlog makes missing folders).
TEST(ServerOps, UnwritableLogFileIsAClearError) {
  const std::string blocker = temp_path("not-a-folder");
  std::ofstream(blocker) << "x";
  const std::string log = blocker + "/hayate.log";
  ServerProcess s({"--log-file", log}, {}, false);
  EXPECT_EQ(s.wait_exit(std::chrono::seconds(30)), 2) << s.log();
  EXPECT_NE(s.log().find(log + ": cannot open the log file"), std::string::npos) << s.log();
}

}  // namespace
}  // namespace hayate::test
