#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bench/serve_workload.h"
#include "core/error.h"

namespace hayate::bench {
namespace {

std::string error_of(const std::string& text) {
  std::istringstream in(text);
  try {
    read_jsonl_workload(in, "w.jsonl");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(BenchJsonl, ReadsPromptsAndMessages) {
  std::istringstream in(
      "{\"prompt\": \"Once upon a time\"}\n"
      "\n"
      "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hi\"}],"
      " \"max_tokens\": 12}\r\n");
  const std::vector<JsonlItem> items = read_jsonl_workload(in, "w.jsonl");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].prompt.value(), "Once upon a time");
  EXPECT_FALSE(items[0].max_tokens);
  EXPECT_FALSE(items[1].prompt);
  EXPECT_EQ(items[1].messages.size(), 2u);
  EXPECT_EQ(items[1].messages[1]["content"], "hi");
  EXPECT_EQ(items[1].max_tokens.value(), 12);
}

TEST(BenchJsonl, WorkloadSendsEachLineToItsRoute) {
  const std::string path = ::testing::TempDir() + "/bench-jsonl-workload.jsonl";
  {
    std::ofstream f(path);
    f << "{\"prompt\": \"abc\", \"max_tokens\": 3}\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n";
  }
  WorkloadConfig c;
  c.name = "jsonl";
  c.file = path;
  c.max_tokens = 9;
  auto w = make_workload(c, "m");
  const StreamRequest a = w->next(0), b = w->next(0), again = w->next(0);
  EXPECT_EQ(a.path, "/v1/completions");
  EXPECT_FALSE(a.chat);
  const auto ja = nlohmann::json::parse(a.body);
  EXPECT_EQ(ja["prompt"], "abc");
  EXPECT_EQ(ja["max_tokens"], 3);
  EXPECT_EQ(ja["stream"], true);
  EXPECT_EQ(ja["stream_options"]["include_usage"], true);
  EXPECT_EQ(ja["model"], "m");
  EXPECT_EQ(b.path, "/v1/chat/completions");
  EXPECT_EQ(nlohmann::json::parse(b.body)["max_tokens"], 9);
  EXPECT_EQ(again.body, a.body);  // the file repeats
}

TEST(BenchWorkload, IgnoreEosIsSentOnlyWhenAsked) {
  WorkloadConfig c;
  c.max_tokens = 5;
  EXPECT_FALSE(nlohmann::json::parse(make_workload(c, "")->next(0).body).contains("ignore_eos"));
  c.ignore_eos = true;
  const auto j = nlohmann::json::parse(make_workload(c, "")->next(0).body);
  EXPECT_EQ(j["ignore_eos"], true);
  EXPECT_EQ(j["max_tokens"], 5);
}

TEST(BenchJsonl, BadLinesNameTheLineAndField) {
  EXPECT_EQ(error_of("{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n"), "w.jsonl:2: not valid JSON (at byte 15)");
  EXPECT_EQ(error_of("[1, 2]\n"), "w.jsonl:1: expected a JSON object, got array");
  EXPECT_EQ(error_of("{\"text\": \"a\"}\n"),
            "w.jsonl:1: needs exactly one of \"prompt\" (a string) or \"messages\" (an array)");
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"messages\": []}\n"),
            "w.jsonl:1: needs exactly one of \"prompt\" (a string) or \"messages\" (an array)");
  EXPECT_EQ(error_of("{\"prompt\": 5}\n"), "w.jsonl:1: field \"prompt\" must be a string");
  EXPECT_EQ(error_of("\n\n{\"messages\": []}\n"), "w.jsonl:3: field \"messages\" must be a non-empty array");
  EXPECT_EQ(error_of("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\"}]}\n"),
            "w.jsonl:1: field \"messages[1].content\" must be a string");
  EXPECT_EQ(error_of("{\"messages\": [{\"content\": \"a\"}]}\n"),
            "w.jsonl:1: field \"messages[0].role\" must be a string");
  EXPECT_EQ(error_of("{\"messages\": [\"hi\"]}\n"), "w.jsonl:1: field \"messages[0]\" must be an object");
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"max_tokens\": 0}\n"),
            "w.jsonl:1: field \"max_tokens\" must be a positive integer");
  EXPECT_EQ(error_of("{\"prompt\": \"a\", \"max_tokens\": \"8\"}\n"),
            "w.jsonl:1: field \"max_tokens\" must be a positive integer");
  EXPECT_EQ(error_of(""), "w.jsonl: no requests (the file has no JSON lines)");
  EXPECT_EQ(error_of("\n  \n"), "w.jsonl: no requests (the file has no JSON lines)");
}

TEST(BenchJsonl, MissingFileIsNotFound) {
  WorkloadConfig c;
  c.name = "jsonl";
  c.file = "/nonexistent/w.jsonl";
  try {
    make_workload(c, "m");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/w.jsonl"), std::string::npos);
  }
}

}  // namespace hayate::bench
