// Ollama's wire format (api/ollama.h): options onto hayate's sampling settings, keep_alive
// durations, model names with and without tags, the response objects.
#include <gtest/gtest.h>

#include <functional>

#include "api/ollama.h"

namespace hayate::api::ollama {
namespace {

using json = nlohmann::json;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

// images: base64 strings before the message's text, within the same limits as image_url parts.
TEST(Ollama, ImagesAreImagePartsBeforeTheText) {
  const std::string png = "iVBORw0KGgo=";  // "\x89PNG\r\n\x1a\n": decoding is the server's business
  const ChatRequest c = parse_chat_request(
      json({{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "what?"}, {"images", {png, png}}}}}}).dump());
  ASSERT_EQ(c.messages[0].image_parts.size(), 2u);
  EXPECT_EQ(c.messages[0].content, "<__image__><__image__>what?");
  EXPECT_EQ(c.messages[0].raw["content"], "<__image__><__image__>what?");
  EXPECT_FALSE(c.messages[0].raw.contains("images"));
  EXPECT_EQ(c.messages[0].image_parts[1].param, "messages[0].images[1]");
  EXPECT_EQ(c.messages[0].image_parts[0].bytes.size(), 8u);
  const GenerateRequest g = parse_generate_request(json({{"model", "m"}, {"prompt", "hi"}, {"images", {png}}}).dump());
  ASSERT_EQ(g.images.size(), 1u);
  EXPECT_EQ(g.prompt, "hi");
  EXPECT_EQ(g.images[0].param, "images[0]");

  Limits small;
  small.max_image_bytes = 4;
  small.max_images = 1;
  EXPECT_NE(error_of([&] {
              parse_generate_request(json({{"model", "m"}, {"prompt", "hi"}, {"images", {png}}}).dump(), small);
            }).find("'images[0]' holds about 9 bytes of image, over the limit of 4"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] {
        parse_generate_request(json({{"model", "m"}, {"prompt", "hi"}, {"images", {"aQ==", "aQ=="}}}).dump(), small);
      }).find("at most 1"),
      std::string::npos);
  EXPECT_NE(error_of([] { parse_generate_request(R"({"model": "m", "images": ["not base64!"]})"); }).find("images[0]"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_generate_request(R"({"model": "m", "images": [7]})"); }).find("base64 string"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "images": "x"}]})");
            }).find("'messages[0].images' must be an array"),
            std::string::npos);
}

TEST(Ollama, OptionsMapOntoSampling) {
  const GenerateRequest r = parse_generate_request(json({{"model", "m"},
                                                         {"prompt", "hi"},
                                                         {"options",
                                                          {{"temperature", 0.2},
                                                           {"top_k", 5},
                                                           {"top_p", 0.5},
                                                           {"min_p", 0.1},
                                                           {"repeat_penalty", 1.3},
                                                           {"repeat_last_n", 16},
                                                           {"seed", 42},
                                                           {"num_predict", 12},
                                                           {"num_ctx", 256},
                                                           {"stop", {"\n", "END"}},
                                                           {"num_thread", 8}}}})
                                                       .dump());
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.2f);
  EXPECT_EQ(r.options.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 0.5f);
  EXPECT_FLOAT_EQ(r.options.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.options.sampling.repeat_penalty, 1.3f);
  EXPECT_EQ(r.options.sampling.repeat_last_n, 16);
  EXPECT_EQ(r.options.sampling.seed, 42u);
  EXPECT_EQ(r.options.num_predict, 12);
  EXPECT_EQ(r.options.num_ctx, 256);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.stream);  // Ollama streams unless told not to
}

TEST(Ollama, DefaultsAreOllamas) {
  const ChatRequest r = parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.8f);
  EXPECT_EQ(r.options.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 0.9f);
  EXPECT_FLOAT_EQ(r.options.sampling.repeat_penalty, 1.1f);
  EXPECT_FALSE(r.options.num_predict);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_FALSE(parse_generate_request(R"({"model": "m", "options": {"num_predict": -1}})").options.num_predict);
}

TEST(Ollama, UnsupportedOptionsAreRefusedByName) {
  for (const char* option : {"mirostat", "tfs_z", "typical_p", "made_up"}) {
    const std::string body = json({{"model", "m"}, {"options", {{option, 2}}}}).dump();
    EXPECT_NE(error_of([&] { parse_generate_request(body); }).find(option), std::string::npos);
  }
  // Their "off" values are fine.
  EXPECT_NO_THROW(parse_generate_request(R"({"model": "m", "options": {"mirostat": 0, "tfs_z": 1}})"));
  EXPECT_NE(error_of([] { parse_generate_request(R"({"prompt": "hi"})"); }).find("model"), std::string::npos);
  EXPECT_NE(
      error_of([] { parse_generate_request(R"({"model": "m", "options": {"temperature": 9}})"); }).find("temperature"),
      std::string::npos);
  EXPECT_NE(error_of([] { parse_chat_request(R"({"model": "m", "messages": {}})"); }).find("messages"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_embed_request(R"({"model": "m"})"); }).find("input"), std::string::npos);
}

TEST(Ollama, KeepAliveDurations) {
  EXPECT_DOUBLE_EQ(*parse_keep_alive("5m"), 300.0);
  EXPECT_DOUBLE_EQ(*parse_keep_alive("1h30m"), 5400.0);
  EXPECT_DOUBLE_EQ(*parse_keep_alive("90s"), 90.0);
  EXPECT_DOUBLE_EQ(*parse_keep_alive("250ms"), 0.25);
  EXPECT_LT(*parse_keep_alive("-1"), 0.0);
  EXPECT_LT(*parse_keep_alive("-1m"), 0.0);
  EXPECT_DOUBLE_EQ(*parse_keep_alive(0), 0.0);
  EXPECT_DOUBLE_EQ(*parse_keep_alive(3600), 3600.0);
  EXPECT_FALSE(parse_keep_alive(nullptr));
  for (const char* bad : {"soon", "5 parsecs", "", "-"})
    EXPECT_NE(error_of([&] { parse_keep_alive(bad); }).find("keep_alive"), std::string::npos) << bad;
}

TEST(Ollama, ModelNamesWithAndWithoutTags) {
  EXPECT_TRUE(same_model("llama3.2", "llama3.2"));
  EXPECT_TRUE(same_model("llama3.2:latest", "llama3.2"));
  EXPECT_TRUE(same_model("llama3.2", "llama3.2:latest"));
  EXPECT_FALSE(same_model("llama3.2:1b", "llama3.2"));
  EXPECT_EQ(tagged("library/qwen"), "library/qwen:latest");
  EXPECT_EQ(tagged("host:5000/qwen"), "host:5000/qwen:latest");
  EXPECT_EQ(tagged("qwen:7b"), "qwen:7b");
}

TEST(Ollama, ResponseObjects) {
  Stats s;
  s.prompt_eval_count = 3;
  s.eval_count = 5;
  s.total_duration = 1000;
  const json chunk = chat_chunk("m", "2024-01-01T00:00:00Z", "Hel");
  EXPECT_EQ(chunk, json::parse(R"({"model": "m", "created_at": "2024-01-01T00:00:00Z",
                                  "message": {"role": "assistant", "content": "Hel"}, "done": false})"));
  const json final = generate_final("m", "t", "", "stop", s);
  EXPECT_EQ(final["done"], true);
  EXPECT_EQ(final["done_reason"], "stop");
  EXPECT_EQ(final["eval_count"], 5);
  EXPECT_EQ(final["prompt_eval_count"], 3);
  EXPECT_EQ(final["total_duration"], 1000);
  EXPECT_EQ(json::parse(error_json("bad thing")), json::parse(R"({"error": "bad thing"})"));
  EXPECT_EQ(rfc3339(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00.000000000Z");
}

}  // namespace
}  // namespace hayate::api::ollama
