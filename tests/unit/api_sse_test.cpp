// The strict SSE reader, driven by tests/data/api/sse_cases.json: every good stream gives the same
// events however its bytes are split, every malformed one fails with a message naming the line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "api/openai.h"
#include "core/error.h"

using namespace hayate::api;
using nlohmann::json;

namespace {

json load_cases() {
  std::ifstream in(std::string(HAYATE_TESTDATA) + "/api/sse_cases.json");
  if (!in) throw std::runtime_error("missing tests/data/api/sse_cases.json");
  return json::parse(in);
}

struct Outcome {
  std::vector<std::string> events;
  bool done = false;
  std::string error;  // empty: accepted
};

// Feeds the stream in the pieces that `cuts` (sorted byte offsets) give, collecting events as it goes.
Outcome run(const std::string& stream, const std::vector<size_t>& cuts) {
  Outcome out;
  SseParser p;
  try {
    size_t from = 0;
    for (size_t cut : cuts) {
      p.feed(std::string_view(stream).substr(from, cut - from));
      for (auto& e : p.take_events()) out.events.push_back(std::move(e));
      from = cut;
    }
    p.feed(std::string_view(stream).substr(from));
    for (auto& e : p.take_events()) out.events.push_back(std::move(e));
    p.finish();
  } catch (const hayate::Error& e) {
    EXPECT_EQ(e.kind(), hayate::ErrorKind::BadInput);
    out.error = e.what();
  }
  out.done = p.done();
  return out;
}

void check(const json& c, const Outcome& got, const std::string& how) {
  SCOPED_TRACE(c["name"].get<std::string>() + " (" + how + ")");
  if (c.contains("error")) {
    ASSERT_FALSE(got.error.empty()) << "accepted a malformed stream";
    EXPECT_NE(got.error.find(c["error"].get<std::string>()), std::string::npos) << got.error;
  } else {
    ASSERT_EQ(got.error, "");
    EXPECT_EQ(got.events, c["events"].get<std::vector<std::string>>());
    EXPECT_EQ(got.done, c["done"].get<bool>());
  }
}

}  // namespace

TEST(ApiSse, CasesInOnePiece) {
  const json cases = load_cases();
  ASSERT_GT(cases.size(), 20u);
  for (const auto& c : cases) check(c, run(c["stream"], {}), "whole");
}

TEST(ApiSse, CasesSplitAtEveryByte) {
  for (const auto& c : load_cases()) {
    const std::string stream = c["stream"];
    for (size_t cut = 0; cut <= stream.size(); ++cut) check(c, run(stream, {cut}), "cut at " + std::to_string(cut));
    std::vector<size_t> every;
    for (size_t i = 0; i <= stream.size(); ++i) every.push_back(i);
    check(c, run(stream, every), "byte by byte");
  }
}

TEST(ApiSse, RealStreamSplitAtRandomBoundaries) {
  // A stream the response functions write, cut into random pieces many times.
  std::string stream = ": keep-alive\n\n";
  stream += sse_chat_chunk("id", 1, "m", 0, "assistant", "", std::nullopt, nullptr);
  const std::vector<std::string> pieces = {"Hel", "lo, ", "wö", "rld 🎉", "\n", "data: fake\n\n"};
  for (const auto& s : pieces) stream += sse_chat_chunk("id", 1, "m", 0, std::nullopt, s, std::nullopt, nullptr);
  stream += sse_chat_chunk("id", 1, "m", 0, std::nullopt, "", "stop", nullptr);
  stream += sse_usage_chunk("id", 1, "m", Usage{3, 6, 0}, true);
  stream += sse_done();

  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<size_t> cuts;
    std::uniform_int_distribution<size_t> at(0, stream.size());
    const int n = trial % 20 + 1;
    for (int i = 0; i < n; ++i) cuts.push_back(at(rng));
    std::sort(cuts.begin(), cuts.end());
    const Outcome got = run(stream, cuts);
    ASSERT_EQ(got.error, "") << "trial " << trial;
    ASSERT_TRUE(got.done);
    ASSERT_EQ(got.events.size(), 9u);
    std::string text;
    for (const auto& e : got.events) {
      const json j = json::parse(e);
      if (!j["choices"].empty() && j["choices"][0]["delta"].contains("content"))
        text += j["choices"][0]["delta"]["content"].get<std::string>();
    }
    ASSERT_EQ(text, "Hello, wörld 🎉\ndata: fake\n\n");
  }
}

TEST(ApiSse, ErrorEventIsAnEvent) {
  SseParser p;
  p.feed(sse_error(ApiError(500, "boom", "server_error")));
  p.finish();
  const auto events = p.take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(json::parse(events[0])["error"]["message"], "boom");
  EXPECT_FALSE(p.done());
}

TEST(ApiSse, TakeEventsDrains) {
  SseParser p;
  p.feed("data: 1\n\ndata: 2\n");
  EXPECT_EQ(p.take_events(), std::vector<std::string>{"1"});
  EXPECT_TRUE(p.take_events().empty());
  p.feed("\n");
  EXPECT_EQ(p.take_events(), std::vector<std::string>{"2"});
}
