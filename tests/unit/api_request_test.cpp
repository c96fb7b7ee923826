// Request parsing: every rejection is a 400 naming the parameter (driven by
// tests/data/api/request_errors.json), defaults match OpenAI's, and the accepted shapes parse.
#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "api/openai.h"

using namespace hayate::api;
using nlohmann::json;

namespace {

const std::string kMsgs = R"("messages": [{"role": "user", "content": "hi"}])";

std::string chat(const std::string& fields) { return "{" + kMsgs + (fields.empty() ? "" : ", " + fields) + "}"; }

void parse(const std::string& endpoint, const std::string& body) {
  if (endpoint == "chat")
    parse_chat_request(body, Limits{});
  else if (endpoint == "completion")
    parse_completion_request(body, Limits{});
  else if (endpoint == "embedding")
    parse_embedding_request(body);
  else
    FAIL() << "unknown endpoint " << endpoint;
}

// The ApiError a body gives, or a test failure when it parses.
ApiError error_of(const std::string& endpoint, const std::string& body) {
  try {
    parse(endpoint, body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << endpoint << " accepted " << body;
  return ApiError(0, "accepted");
}

}  // namespace

TEST(ApiRequest, ErrorCorpus) {
  std::ifstream in(std::string(HAYATE_TESTDATA) + "/api/request_errors.json");
  ASSERT_TRUE(in) << "missing tests/data/api/request_errors.json";
  const json cases = json::parse(in);
  ASSERT_GT(cases.size(), 100u);
  for (const auto& c : cases) {
    const std::string body = c.contains("raw") ? c["raw"].get<std::string>() : c["body"].dump();
    SCOPED_TRACE(c["endpoint"].get<std::string>() + " " + body);
    const ApiError e = error_of(c["endpoint"], body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "invalid_request_error");
    EXPECT_EQ(e.param, c["param"].get<std::string>()) << e.what();
    EXPECT_NE(std::string(e.what()).find(c["says"].get<std::string>()), std::string::npos) << "message: " << e.what();
  }
}

TEST(ApiRequest, InvalidUtf8IsRejectedAnywhere) {
  const std::string cases[] = {
      chat(R"("user": "a)"
           "\xff"
           R"(")"),  // stray byte in a string
      chat(R"("user": "a)"
           "\xc3"
           R"(")"),  // truncated sequence
      chat(R"("user": ")"
           "\xc0\xaf"
           R"(")"),  // overlong '/'
      chat(R"("user": ")"
           "\xed\xa0\x80"
           R"(")"),  // UTF-16 surrogate
      chat(R"("user": ")"
           "\xf4\x90\x80\x80"
           R"(")"),  // above U+10FFFF
      R"({"messages": [{"role": "user", "content": "h)"
      "\xe9"
      R"("}]})",                        // latin-1 in content
      "{\"k\xff\": 1, " + kMsgs + "}",  // in a key
      chat("") + "\xff",                // after the value
  };
  for (const auto& body : cases) {
    const ApiError e = error_of("chat", body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "");
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
  // Valid multi-byte text, including 4-byte sequences and escaped surrogate pairs, is fine.
  const auto r = parse_chat_request(R"({"messages": [{"role": "user", "content": "é日本🎉 \ud83c\udf89"}]})", {});
  EXPECT_EQ(r.messages[0].content, "é日本🎉 🎉");
}

TEST(ApiRequest, DeepNestingIsRejected) {
  const std::string deep = chat(R"("x": )" + std::string(100, '[') + std::string(100, ']'));
  const ApiError e = error_of("chat", deep);
  EXPECT_NE(std::string(e.what()).find("levels deep"), std::string::npos) << e.what();
  // Brackets inside strings do not count.
  EXPECT_NO_THROW(parse_chat_request(chat(R"("x": ")" + std::string(100, '[') + R"(\"[[")"), {}));
  EXPECT_NO_THROW(parse_chat_request(chat(R"("x": )" + std::string(30, '[') + std::string(30, ']')), {}));
}

TEST(ApiRequest, ChatDefaults) {
  const auto r = parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})", {});
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_EQ(r.messages[0].raw, json::parse(R"({"role": "user", "content": "hi"})"));
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_EQ(r.sampling.repeat_penalty, 1.0f);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.0f);
  EXPECT_EQ(r.sampling.presence_penalty, 0.0f);
  EXPECT_EQ(r.sampling.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(r.sampling.n_logprobs, 0);
  EXPECT_NO_THROW(r.sampling.validate());
  EXPECT_TRUE(r.stop.empty());
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  EXPECT_EQ(r.user, "");
  EXPECT_TRUE(r.extra_template_vars.is_object() && r.extra_template_vars.empty());

  // No model: the server's default. Nulls mean defaults; unknown fields are ignored.
  const auto d = parse_chat_request(chat(R"("temperature": null, "n": null, "stop": null, "stream_options": null,
      "tools": [], "response_format": {"type": "text"}, "logit_bias": {"1": 2})"),
                                    {});
  EXPECT_EQ(d.model, "");
  EXPECT_EQ(d.sampling.temperature, 1.0f);
  EXPECT_EQ(d.n, 1);
}

TEST(ApiRequest, ChatAllFields) {
  const auto r = parse_chat_request(chat(R"("model": "q", "stream": true, "stream_options": {"include_usage": true},
      "n": 3, "max_tokens": 50, "temperature": 0, "top_p": 0.5, "frequency_penalty": -1.5,
      "presence_penalty": 2, "seed": 42, "top_k": 20, "min_p": 0.1, "repeat_penalty": 1.1, "repeat_last_n": -1,
      "stop": ["a", "b"], "logprobs": true, "top_logprobs": 5, "user": "u1",
      "chat_template_kwargs": {"enable_thinking": false})"),
                                    {});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.n, 3);
  EXPECT_EQ(r.max_tokens, 50);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_EQ(r.sampling.frequency_penalty, -1.5f);
  EXPECT_EQ(r.sampling.presence_penalty, 2.0f);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.sampling.top_k, 20);
  EXPECT_EQ(r.sampling.min_p, 0.1f);
  EXPECT_EQ(r.sampling.repeat_penalty, 1.1f);
  EXPECT_EQ(r.sampling.repeat_last_n, -1);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 5);
  EXPECT_EQ(r.sampling.n_logprobs, 5);
  EXPECT_EQ(r.user, "u1");
  EXPECT_EQ(r.extra_template_vars, json::parse(R"({"enable_thinking": false})"));
  EXPECT_NO_THROW(r.sampling.validate());
}

TEST(ApiRequest, EdgesOfRangesAreAccepted) {
  EXPECT_EQ(parse_chat_request(chat(R"("temperature": 2)"), {}).sampling.temperature, 2.0f);
  EXPECT_EQ(parse_chat_request(chat(R"("top_p": 1e-9)"), {}).sampling.top_p, 1e-9f);
  EXPECT_EQ(parse_chat_request(chat(R"("n": 16)"), {}).n, 16);
  EXPECT_EQ(parse_chat_request(chat(R"("n": 2.0)"), {}).n, 2);
  EXPECT_EQ(parse_chat_request(chat(R"("max_tokens": 4096)"), {}).max_tokens, 4096);
  EXPECT_EQ(parse_chat_request(chat(R"("seed": 0)"), {}).sampling.seed, 0u);
  EXPECT_EQ(parse_chat_request(chat(R"("seed": 18446744073709551614)"), {}).sampling.seed,
            std::numeric_limits<uint64_t>::max() - 1);
  EXPECT_EQ(parse_chat_request(chat(R"("top_k": -1)"), {}).sampling.top_k, 0);  // -1 = off, as vLLM
  EXPECT_EQ(parse_chat_request(chat(R"("logprobs": true, "top_logprobs": 20)"), {}).top_logprobs, 20);
  EXPECT_EQ(parse_chat_request(chat(R"("logprobs": true, "top_logprobs": 0)"), {}).top_logprobs, 0);
}

TEST(ApiRequest, LimitsComeFromTheServer) {
  Limits limits;
  limits.max_tokens = 100;
  limits.max_n = 4;
  EXPECT_EQ(parse_chat_request(chat(R"("max_tokens": 100, "n": 4)"), limits).max_tokens, 100);
  try {
    parse_chat_request(chat(R"("max_tokens": 101)"), limits);
    FAIL();
  } catch (const ApiError& err) {
    EXPECT_EQ(err.param, "max_tokens");
    EXPECT_NE(std::string(err.what()).find("[1, 100]"), std::string::npos) << err.what();
  }
  EXPECT_THROW(parse_chat_request(chat(R"("n": 5)"), limits), ApiError);
  EXPECT_THROW(parse_completion_request(R"({"prompt": "a", "max_tokens": 101})", limits), ApiError);
  limits.max_tokens = 8;  // the completions default (16) is clamped to the cap
  EXPECT_EQ(parse_completion_request(R"({"prompt": "a"})", limits).max_tokens, 8);
}

TEST(ApiRequest, BothMaxTokensSpellings) {
  EXPECT_EQ(parse_chat_request(chat(R"("max_tokens": 7)"), {}).max_tokens, 7);
  EXPECT_EQ(parse_chat_request(chat(R"("max_completion_tokens": 9)"), {}).max_tokens, 9);
  EXPECT_EQ(parse_chat_request(chat(R"("max_tokens": 9, "max_completion_tokens": 9)"), {}).max_tokens, 9);
  EXPECT_EQ(parse_chat_request(chat(R"("max_tokens": null, "max_completion_tokens": 3)"), {}).max_tokens, 3);
}

TEST(ApiRequest, ContentParts) {
  const auto r = parse_chat_request(R"({"messages": [
      {"role": "system", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
      {"role": "user", "content": []},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "42"},
      {"role": "developer", "content": "d", "name": "dev"},
      {"role": "assistant"}]})",
                                    {});
  ASSERT_EQ(r.messages.size(), 6u);
  EXPECT_EQ(r.messages[0].content, "be brief");
  EXPECT_EQ(r.messages[0].raw["content"], "be brief");  // templates get a string
  EXPECT_EQ(r.messages[1].content, "");
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_TRUE(r.messages[2].raw["content"].is_null());
  EXPECT_EQ(r.messages[2].raw["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(r.messages[3].raw["tool_call_id"], "c1");
  EXPECT_EQ(r.messages[4].raw["name"], "dev");
  EXPECT_EQ(r.messages[5].content, "");
}

TEST(ApiRequest, StopAsStringOrArray) {
  EXPECT_EQ(parse_chat_request(chat(R"("stop": "END")"), {}).stop, std::vector<std::string>{"END"});
  EXPECT_EQ(parse_chat_request(chat(R"("stop": [])"), {}).stop, std::vector<std::string>{});
  EXPECT_EQ(parse_chat_request(chat(R"("stop": ["1", "2", "3", "\n"])"), {}).stop,
            (std::vector<std::string>{"1", "2", "3", "\n"}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": "x", "stop": "\n\n"})", {}).stop, std::vector<std::string>{"\n\n"});
}

TEST(ApiRequest, CompletionShapesAndDefaults) {
  const auto r = parse_completion_request(R"({"model": "m", "prompt": "Once"})", {});
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompts, std::vector<std::string>{"Once"});
  EXPECT_TRUE(r.prompt_ids.empty());
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.logprobs.has_value());
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);

  EXPECT_EQ(parse_completion_request(R"({"prompt": ["a", "b", ""]})", {}).prompts,
            (std::vector<std::string>{"a", "b", ""}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": [1, 2, 3]})", {}).prompt_ids,
            (std::vector<std::vector<int32_t>>{{1, 2, 3}}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": [[1], [2, 2147483647]]})", {}).prompt_ids,
            (std::vector<std::vector<int32_t>>{{1}, {2, 2147483647}}));

  const auto f = parse_completion_request(R"({"prompt": "a", "max_tokens": 5, "logprobs": 3, "echo": true,
      "stream": true, "stream_options": {"include_usage": true}, "n": 2, "seed": 1, "stop": ["x"]})",
                                          {});
  EXPECT_EQ(f.max_tokens, 5);
  EXPECT_EQ(f.logprobs, 3);
  EXPECT_EQ(f.sampling.n_logprobs, 3);
  EXPECT_TRUE(f.echo);
  EXPECT_TRUE(f.stream);
  EXPECT_TRUE(f.include_usage);
  EXPECT_EQ(f.n, 2);
  EXPECT_EQ(f.sampling.seed, 1u);
  EXPECT_EQ(parse_completion_request(R"({"prompt": "a", "logprobs": 0})", {}).logprobs, 0);
  EXPECT_EQ(parse_completion_request(R"({"prompt": "a", "max_tokens": null})", {}).max_tokens, 16);
  // max_tokens 0 scores the prompt alone: only with echo, which returns it.
  EXPECT_EQ(parse_completion_request(R"({"prompt": "a", "max_tokens": 0, "echo": true})", {}).max_tokens, 0);
  try {
    parse_completion_request(R"({"prompt": "a", "max_tokens": 0, "echo": false})", {});
    ADD_FAILURE() << "max_tokens 0 without echo was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "max_tokens");
  }
}

TEST(ApiRequest, IgnoreEosOnBothRoutes) {
  EXPECT_FALSE(parse_completion_request(R"({"prompt": "a"})", {}).ignore_eos);
  EXPECT_TRUE(parse_completion_request(R"({"prompt": "a", "ignore_eos": true})", {}).ignore_eos);
  const char* chat = R"({"messages": [{"role": "user", "content": "x"}], "ignore_eos": true})";
  EXPECT_TRUE(parse_chat_request(chat, {}).ignore_eos);
  EXPECT_FALSE(parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}]})", {}).ignore_eos);
  EXPECT_THROW(parse_chat_request(R"({"messages": [{"role": "user", "content": "x"}], "ignore_eos": 1})", {}),
               ApiError);
}

TEST(ApiRequest, EmbeddingShapesAndDefaults) {
  const auto r = parse_embedding_request(R"({"model": "e", "input": "hello"})");
  EXPECT_EQ(r.model, "e");
  EXPECT_EQ(r.inputs, std::vector<std::string>{"hello"});
  EXPECT_EQ(r.encoding_format, "float");
  EXPECT_FALSE(r.dimensions.has_value());
  EXPECT_EQ(parse_embedding_request(R"({"input": ["a", "b"], "encoding_format": "base64", "dimensions": 64})")
                .encoding_format,
            "base64");
  EXPECT_EQ(parse_embedding_request(R"({"input": ["a"], "dimensions": 64})").dimensions, 64);
  EXPECT_EQ(parse_embedding_request(R"({"input": [5, 6]})").input_ids, (std::vector<std::vector<int32_t>>{{5, 6}}));
  EXPECT_EQ(parse_embedding_request(R"({"input": [[5], [6]]})").input_ids,
            (std::vector<std::vector<int32_t>>{{5}, {6}}));

  json many = {{"input", json::array()}};
  for (int i = 0; i < 2049; ++i) many["input"].push_back("x");
  const ApiError e = error_of("embedding", many.dump());
  EXPECT_EQ(e.param, "input");
  EXPECT_NE(std::string(e.what()).find("at most 2048"), std::string::npos) << e.what();
}

TEST(ApiRequest, ParsedSamplingPassesTheEngineCheck) {
  // What the parser accepts, the sampler must accept too (no 500 later for a bad parameter).
  for (const char* fields : {R"("temperature": 0, "top_p": 1e-30)", R"("repeat_penalty": 100, "min_p": 1)",
                             R"("frequency_penalty": -2, "presence_penalty": 2, "top_k": 2147483647)",
                             R"("logprobs": true, "top_logprobs": 20, "repeat_last_n": 2147483647)"}) {
    SCOPED_TRACE(fields);
    EXPECT_NO_THROW(parse_chat_request(chat(fields), {}).sampling.validate());
  }
}
