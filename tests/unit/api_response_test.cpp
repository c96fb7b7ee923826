// Response bodies and stream chunks: byte-exact goldens in tests/data/api/responses/ (rewrite
// them with HAYATE_UPDATE_GOLDENS=1 after an intended change, then review the diff), plus checks
// that each parses back with exactly OpenAI's field set.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "api/openai.h"

using namespace hayate::api;
using nlohmann::json;

namespace {

std::string golden_path(const std::string& name) { return std::string(HAYATE_TESTDATA) + "/api/responses/" + name; }

// Compares text with the golden file (which holds it plus a final newline).
void expect_golden(const std::string& name, const std::string& text) {
  const std::string path = golden_path(name);
  if (std::getenv("HAYATE_UPDATE_GOLDENS")) {
    std::ofstream(path, std::ios::binary) << text << "\n";
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden " << path << " (run with HAYATE_UPDATE_GOLDENS=1)";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), text + "\n") << "golden " << name << " differs";
}

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

using Keys = std::set<std::string>;

TokenLogprob token(const std::string& text, float lp, std::vector<std::pair<std::string, float>> top) {
  return TokenLogprob{text, lp, std::vector<uint8_t>(text.begin(), text.end()), std::move(top)};
}

std::vector<Choice> sample_choices() {
  Choice a;
  a.text = "Hello, wörld";
  a.finish_reason = "stop";
  a.logprobs = {
      token("Hello", -0.1f, {{"Hello", -0.1f}, {"Hi", -2.5f}}), token(",", -0.25f, {{",", -0.25f}, {"!", -1.75f}}),
      token(" wörld", -1.0f / 3.0f, {{" wörld", -1.0f / 3.0f}, {" world", -std::numeric_limits<float>::infinity()}})};
  Choice b;
  b.text = "Hi";
  b.finish_reason = "length";
  b.logprobs = {token("Hi", -2.5f, {{"Hi", -2.5f}, {"Hello", -0.1f}})};
  return {a, b};
}

const Usage kUsage{12, 4, 8};

}  // namespace

TEST(ApiResponse, ChatCompletionGoldenAndFields) {
  const std::string body = chat_completion_json("chatcmpl-abc", 1700000000, "tiny", sample_choices(), kUsage, true);
  expect_golden("chat_completion.json", body);
  const json j = json::parse(body);
  EXPECT_EQ(keys(j), (Keys{"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["system_fingerprint"], "hayate-0.1");
  ASSERT_EQ(j["choices"].size(), 2u);
  const json& c = j["choices"][0];
  EXPECT_EQ(keys(c), (Keys{"index", "message", "logprobs", "finish_reason"}));
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(j["choices"][1]["index"], 1);
  EXPECT_EQ(keys(c["message"]), (Keys{"role", "content"}));
  EXPECT_EQ(c["message"]["role"], "assistant");
  EXPECT_EQ(c["message"]["content"], "Hello, wörld");
  EXPECT_EQ(keys(c["logprobs"]), Keys{"content"});
  const json& t = c["logprobs"]["content"][2];
  EXPECT_EQ(keys(t), (Keys{"token", "logprob", "bytes", "top_logprobs"}));
  EXPECT_EQ(t["token"], " wörld");
  EXPECT_EQ(t["bytes"], json::parse("[32, 119, 195, 182, 114, 108, 100]"));
  EXPECT_EQ(keys(t["top_logprobs"][0]), (Keys{"token", "logprob", "bytes"}));
  EXPECT_EQ(t["top_logprobs"][1]["logprob"], -9999.0);               // -inf
  EXPECT_EQ(c["logprobs"]["content"][0]["logprob"].dump(), "-0.1");  // shortest float form
  EXPECT_EQ(keys(j["usage"]), (Keys{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}));
  EXPECT_EQ(j["usage"]["total_tokens"], 16);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);

  const json plain = json::parse(chat_completion_json("x", 1, "m", sample_choices(), kUsage, false));
  EXPECT_TRUE(plain["choices"][0]["logprobs"].is_null());
  // Byte-stable: the same inputs give the same bytes.
  EXPECT_EQ(body, chat_completion_json("chatcmpl-abc", 1700000000, "tiny", sample_choices(), kUsage, true));
}

TEST(ApiResponse, InvalidUtf8IsReplacedNotFatal) {
  Choice c;
  c.text = "ok \xe6\x97";  // a character cut in half
  c.finish_reason = "length";
  TokenLogprob t{"\xe6\x97", -1.5f, {0xe6, 0x97}, {{"\xff", -2.0f}}};
  c.logprobs = {t};
  const std::string body = chat_completion_json("id", 1, "m\xc3", {c}, {}, true);
  const json j = json::parse(body);  // valid JSON, valid UTF-8
  EXPECT_EQ(j["choices"][0]["message"]["content"], "ok \xef\xbf\xbd");
  EXPECT_EQ(j["choices"][0]["logprobs"]["content"][0]["bytes"], json::parse("[230, 151]"));  // raw bytes kept
  EXPECT_EQ(j["choices"][0]["logprobs"]["content"][0]["top_logprobs"][0]["bytes"], json::parse("[255]"));
  const std::string chunk = sse_chat_chunk("id", 1, "m", 0, std::nullopt, "\xc0", std::nullopt, &t);
  EXPECT_TRUE(json::accept(chunk.substr(6)));
}

TEST(ApiResponse, CompletionGoldenAndLegacyLogprobs) {
  std::vector<Choice> choices = sample_choices();
  choices[1].text = "Say: Hi";  // echo: the prompt "Say: " comes first
  const std::string body = completion_json("cmpl-abc", 1700000000, "tiny", choices, kUsage, true);
  expect_golden("completion.json", body);
  const json j = json::parse(body);
  EXPECT_EQ(keys(j), (Keys{"id", "object", "created", "model", "system_fingerprint", "choices", "usage"}));
  EXPECT_EQ(j["object"], "text_completion");
  const json& c = j["choices"][0];
  EXPECT_EQ(keys(c), (Keys{"index", "text", "logprobs", "finish_reason"}));
  EXPECT_EQ(c["text"], "Hello, wörld");
  EXPECT_EQ(keys(c["logprobs"]), (Keys{"tokens", "token_logprobs", "top_logprobs", "text_offset"}));
  EXPECT_EQ(c["logprobs"]["tokens"], json::parse(R"(["Hello", ",", " wörld"])"));
  EXPECT_EQ(c["logprobs"]["text_offset"], json::parse("[0, 5, 6]"));
  EXPECT_EQ(c["logprobs"]["top_logprobs"][0], json::parse(R"({"Hello": -0.1, "Hi": -2.5})"));
  EXPECT_EQ(j["choices"][1]["logprobs"]["text_offset"], json::parse("[5]"));  // after the echoed prompt
  EXPECT_TRUE(json::parse(completion_json("x", 1, "m", choices, kUsage, false))["choices"][0]["logprobs"].is_null());
}

// Echo with logprobs: offsets count characters (OpenAI's and vLLM's unit), a token holding half
// a character counts it where the character starts, and the prompt's first token has null
// logprob and null alternatives.
TEST(ApiResponse, LegacyLogprobsOffsetsInCharactersAndAPromptsFirstToken) {
  Choice c;
  c.text = "日本語は";
  c.finish_reason = "length";
  const float none = std::numeric_limits<float>::quiet_NaN();
  c.logprobs = {TokenLogprob{"日本", none, {}, {}}, TokenLogprob{"\xe8", -1.0f, {0xe8}, {{"x", -0.5f}}},
                TokenLogprob{"\xaa\x9e", -2.0f, {0xaa, 0x9e}, {}}, TokenLogprob{"は", -0.25f, {}, {}}};
  const json j = json::parse(completion_json("x", 1, "m", {c}, kUsage, true));
  const json& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["text_offset"], json::parse("[0, 2, 3, 3]"));
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  EXPECT_EQ(lp["token_logprobs"][1], -1.0);
  EXPECT_EQ(lp["top_logprobs"][1], json::parse(R"({"x": -0.5})"));
  EXPECT_EQ(text_offset_chars("日本語"), 3);
  EXPECT_EQ(text_offset_chars("\xaa\x9e"), 0);
  // Echoed text with no entries for it: the first offset is past it, in characters.
  c.logprobs = {TokenLogprob{"は", -0.25f, {}, {}}};
  EXPECT_EQ(json::parse(completion_json("x", 1, "m", {c}, kUsage, true))["choices"][0]["logprobs"]["text_offset"],
            json::parse("[3]"));
}

TEST(ApiResponse, EmbeddingsFloatAndBase64) {
  const std::vector<std::vector<float>> vectors = {{0.1f, -0.5f, 1.0f}, {0.0f, 3.25f, std::nanf("")}};
  const std::string f = embeddings_json("emb", vectors, "float", 7);
  expect_golden("embeddings_float.json", f);
  const json j = json::parse(f);
  EXPECT_EQ(keys(j), (Keys{"object", "data", "model", "usage"}));
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(keys(j["data"][0]), (Keys{"object", "index", "embedding"}));
  EXPECT_EQ(j["data"][0]["object"], "embedding");
  EXPECT_EQ(j["data"][1]["index"], 1);
  EXPECT_EQ(j["data"][0]["embedding"].dump(), "[0.1,-0.5,1.0]");
  EXPECT_EQ(j["data"][1]["embedding"][2], 0.0);  // NaN never reaches the client
  EXPECT_EQ(keys(j["usage"]), (Keys{"prompt_tokens", "total_tokens"}));

  const std::string b = embeddings_json("emb", vectors, "base64", 7);
  expect_golden("embeddings_base64.json", b);
  const json jb = json::parse(b);
  // 1.0f is 0x3f800000: little-endian 00 00 80 3f.
  const json one = json::parse(embeddings_json("emb", {{1.0f}}, "base64", 1));
  EXPECT_EQ(one["data"][0]["embedding"], "AACAPw==");
  EXPECT_EQ(jb["data"][0]["embedding"].get<std::string>().size(), 16u);  // 12 bytes
}

TEST(ApiResponse, ModelsAndErrors) {
  const std::string m = models_json({{"tiny", 1700000000}, {"tiny-q8", 1700000001}}, "hayate");
  expect_golden("models.json", m);
  const json j = json::parse(m);
  EXPECT_EQ(keys(j), (Keys{"object", "data"}));
  EXPECT_EQ(keys(j["data"][0]), (Keys{"id", "object", "created", "owned_by"}));
  EXPECT_EQ(j["data"][1]["id"], "tiny-q8");
  EXPECT_EQ(j["data"][0]["object"], "model");

  const std::string e =
      error_json(ApiError(400, "'n' must be an integer in [1, 16], got 17", "invalid_request_error", "n"));
  expect_golden("error.json", e);
  const json je = json::parse(e);
  EXPECT_EQ(keys(je), Keys{"error"});
  EXPECT_EQ(keys(je["error"]), (Keys{"message", "type", "param", "code"}));
  EXPECT_EQ(je["error"]["param"], "n");
  EXPECT_TRUE(je["error"]["code"].is_null());
  EXPECT_TRUE(json::parse(error_json(ApiError(500, "boom", "server_error")))["error"]["param"].is_null());
}

TEST(ApiResponse, FromEngineErrors) {
  using hayate::ErrorKind;
  struct Case {
    ErrorKind kind;
    const char* message;
    int status;
    const char* type;
    const char* code;
  };
  const Case cases[] = {
      {ErrorKind::BadInput, "prompt has 5000 tokens; the context holds 4096", 400, "invalid_request_error", ""},
      {ErrorKind::NotFound, "model 'x' not found", 404, "invalid_request_error", "not_found"},
      {ErrorKind::Unsupported, "no", 422, "invalid_request_error", "unsupported"},
      {ErrorKind::Busy, "queue full (256 waiting)", 429, "server_busy", "queue_full"},
      {ErrorKind::ResourceExhausted, "engine is shutting down", 503, "server_error", "resource_exhausted"},
      // The kind decides, never the text.
      {ErrorKind::ResourceExhausted, "queue full (256 waiting)", 503, "server_error", "resource_exhausted"},
      {ErrorKind::Unavailable, "the engine shut down", 503, "server_error", "shutting_down"},
      {ErrorKind::Timeout, "timed out after 2 s", 504, "server_error", "timeout"},
      {ErrorKind::EngineUnhealthy, "the engine is not healthy: stuck", 503, "server_error", "engine_unhealthy"},
      {ErrorKind::Internal, "bug", 500, "server_error", "internal_error"},
  };
  for (const auto& c : cases) {
    const ApiError e = from_error(hayate::Error(c.kind, c.message));
    EXPECT_EQ(e.status, c.status) << c.message;
    EXPECT_EQ(e.type, c.type) << c.message;
    EXPECT_EQ(e.code, c.code) << c.message;
    EXPECT_STREQ(e.what(), c.message);
    EXPECT_EQ(e.param, "");
  }
}

TEST(ApiResponse, ChatStreamGolden) {
  const std::vector<Choice> choices = sample_choices();
  const std::string id = "chatcmpl-abc", model = "tiny";
  const int64_t t = 1700000000;
  std::string stream = sse_chat_chunk(id, t, model, 0, "assistant", "", std::nullopt, nullptr);
  for (const auto& lp : choices[0].logprobs)
    stream += sse_chat_chunk(id, t, model, 0, std::nullopt, lp.token, std::nullopt, &lp);
  stream += sse_chat_chunk(id, t, model, 0, std::nullopt, "", "stop", nullptr);
  stream += sse_usage_chunk(id, t, model, kUsage, true);
  stream += sse_done();
  expect_golden("chat_stream.txt", stream);

  SseParser p;
  p.feed(stream);
  p.finish();
  EXPECT_TRUE(p.done());
  const auto events = p.take_events();
  ASSERT_EQ(events.size(), 6u);
  const json first = json::parse(events[0]);
  EXPECT_EQ(keys(first), (Keys{"id", "object", "created", "model", "system_fingerprint", "choices"}));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(keys(first["choices"][0]), (Keys{"index", "delta", "logprobs", "finish_reason"}));
  EXPECT_EQ(first["choices"][0]["delta"], json::parse(R"({"role": "assistant", "content": ""})"));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const json mid = json::parse(events[3]);
  EXPECT_EQ(mid["choices"][0]["delta"], json::parse(R"({"content": " wörld"})"));
  EXPECT_EQ(mid["choices"][0]["logprobs"]["content"][0]["token"], " wörld");
  const json last = json::parse(events[4]);
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  const json usage = json::parse(events[5]);
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 16);
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json d = json::parse(events[i])["choices"][0]["delta"];
    if (d.contains("content")) text += d["content"].get<std::string>();
  }
  EXPECT_EQ(text, choices[0].text);
}

TEST(ApiResponse, CompletionStreamGolden) {
  const std::vector<Choice> choices = sample_choices();
  const std::string id = "cmpl-abc", model = "tiny";
  const int64_t t = 1700000000;
  std::string stream;
  int32_t offset = 0;
  for (const auto& lp : choices[0].logprobs) {
    stream += sse_completion_chunk(id, t, model, 0, lp.token, std::nullopt, &lp, offset);
    offset += static_cast<int32_t>(lp.token.size());
  }
  stream += sse_completion_chunk(id, t, model, 0, "", "stop", nullptr);
  stream += sse_usage_chunk(id, t, model, kUsage, false);
  stream += sse_done();
  expect_golden("completion_stream.txt", stream);

  SseParser p;
  p.feed(stream);
  p.finish();
  const auto events = p.take_events();
  ASSERT_EQ(events.size(), 5u);
  const json c = json::parse(events[1]);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(keys(c["choices"][0]), (Keys{"index", "text", "logprobs", "finish_reason"}));
  EXPECT_EQ(c["choices"][0]["logprobs"]["text_offset"], json::parse("[5]"));
  EXPECT_EQ(c["choices"][0]["logprobs"]["tokens"], json::parse(R"([","])"));
  EXPECT_EQ(json::parse(events[3])["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(json::parse(events[4])["object"], "text_completion");
  EXPECT_EQ(json::parse(events[4])["choices"], json::array());
}

TEST(ApiResponse, SseErrorAndDone) {
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  const std::string e = sse_error(ApiError(503, "engine is shutting down", "server_error", "", "resource_exhausted"));
  EXPECT_EQ(e,
            "data: " + error_json(ApiError(503, "engine is shutting down", "server_error", "", "resource_exhausted")) +
                "\n\n");
  const json j = json::parse(e.substr(6));
  EXPECT_EQ(j["error"]["code"], "resource_exhausted");
}

TEST(ApiResponse, RequestIds) {
  const std::string a = new_request_id("chatcmpl-"), b = new_request_id("chatcmpl-");
  ASSERT_EQ(a.size(), 9u + 24u);
  EXPECT_EQ(a.substr(0, 9), "chatcmpl-");
  EXPECT_NE(a, b);
  for (char c : a.substr(9)) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << a;
}
