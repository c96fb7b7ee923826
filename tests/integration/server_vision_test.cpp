// Images through the real `hayate serve --mmproj` into the vision tower (issue 19), on the tiny
// random LLaVA that `hayate synth --mmproj` writes (byte tokenizer, ChatML, 16 tokens per image):
// greedy answers equal `hayate run --image` for the same prompt, usage counts the image tokens, the
// images' order and place matter, bad images are 400 naming the part, and the prefix cache keys
// image blocks by their pixels.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/server_harness.h"
#include "support/test_util.h"

namespace hayate::test {
namespace {

using nlohmann::json;

constexpr int kImageTokens = 16;  // (56 / 14)^2 patches of the synthetic tower
const std::string kImages = std::string(HAYATE_TESTDATA) + "/images/";

struct Llava {
  std::string lm, mmproj;
};

const Llava& llava() {
  static const Llava files = [] {
    const std::string dir = ::testing::TempDir() + "/hayate-vision-" + std::to_string(::getpid());
    Llava f{dir + "-lm.gguf", dir + "-mmproj.gguf"};
    const CommandResult r = run_command(kHayate + " synth -o " + f.lm + " --n-embd 64 --n-layer 2 --n-head 4 " +
                                        "--n-head-kv 2 --n-ff 128 --mmproj " + f.mmproj + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("hayate synth failed: " + r.output);
    return f;
  }();
  return files;
}

ServerProcess* server = nullptr;

class ServerVision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new ServerProcess({"-m", llava().lm, "--mmproj", llava().mmproj, "--max-body-bytes", "4194304"}, {}, true,
                               false);
  }
  static void TearDownTestSuite() {
    if (!server) return;
    EXPECT_EQ(server->stop(), 0);
    delete server;
    server = nullptr;
  }
};

std::string b64(std::string_view bytes) {
  return base64_encode({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

json text_part(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

json image_part(const std::string& file) {
  const std::string bytes = read_file(kImages + file);
  const std::string mime = file.ends_with(".png") ? "image/png" : "image/jpeg";
  return {{"type", "image_url"}, {"image_url", {{"url", "data:" + mime + ";base64," + b64(bytes)}}}};
}

// One user message of these parts, greedy.
HttpResponse chat(const std::vector<json>& parts, int max_tokens = 8) {
  json message = {{"role", "user"}};
  message["content"] = json::array();
  for (const json& p : parts) message["content"].push_back(p);
  json body = {{"max_tokens", max_tokens}, {"temperature", 0}};
  body["messages"] = json::array();
  body["messages"].push_back(message);
  return http_post(server->port(), "/v1/chat/completions", body.dump());
}

json ok_json(const HttpResponse& r) {
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body);
}

std::string content(const json& j) { return j["choices"][0]["message"]["content"].get<std::string>(); }

// `hayate run --image` on the prompt ChatML gives the user turn `user_text` (with <__image__>
// where the images go).
json run_cli(const std::string& user_text, const std::vector<std::string>& images) {
  const std::string prompt_file = ::testing::TempDir() + "/hayate-vision-prompt-" + std::to_string(::getpid());
  std::ofstream(prompt_file, std::ios::binary) << "<|im_start|>user\n"
                                               << user_text << "<|im_end|>\n<|im_start|>assistant\n";
  std::string cmd = kHayate + " run --json --no-special --temp 0 -n 8 -m " + llava().lm + " --mmproj " + llava().mmproj;
  for (const std::string& f : images) cmd += " --image " + kImages + f;
  const CommandResult r = run_command(cmd + " -f " + prompt_file + " 2>/dev/null");
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  return json::parse(r.output);
}

TEST_F(ServerVision, OneImageAnswersAsRunDoesAndCountsItsTokens) {
  const json with = ok_json(chat({text_part("what?"), image_part("rgb_61x45.jpg")}));
  const json without = ok_json(chat({text_part("what?")}));
  EXPECT_EQ(with["usage"]["prompt_tokens"].get<int>(), without["usage"]["prompt_tokens"].get<int>() + kImageTokens);
  const json cli = run_cli("what?<__image__>", {"rgb_61x45.jpg"});
  EXPECT_EQ(content(with), cli["text"].get<std::string>());
  EXPECT_EQ(with["usage"]["prompt_tokens"].get<int>(), cli["prompt_tokens"].get<int>());
  // The pixels reach the model: another image, another answer; the same image, the same one.
  const json other = ok_json(chat({text_part("what?"), image_part("rgb_37x23.png")}));
  EXPECT_NE(content(other), content(with));
  EXPECT_EQ(content(ok_json(chat({text_part("what?"), image_part("rgb_61x45.jpg")}))), content(with));
}

TEST_F(ServerVision, TwoImagesInOrderAndInPlace) {
  const json ab =
      ok_json(chat({text_part("a"), image_part("rgb_61x45.jpg"), text_part("b"), image_part("rgb_37x23.png")}));
  const json ba =
      ok_json(chat({text_part("a"), image_part("rgb_37x23.png"), text_part("b"), image_part("rgb_61x45.jpg")}));
  const json text = ok_json(chat({text_part("ab")}));
  EXPECT_EQ(ab["usage"]["prompt_tokens"].get<int>(), text["usage"]["prompt_tokens"].get<int>() + 2 * kImageTokens);
  EXPECT_NE(content(ab), content(ba));
  EXPECT_EQ(content(ab), run_cli("a<__image__>b<__image__>", {"rgb_61x45.jpg", "rgb_37x23.png"})["text"]);
  EXPECT_EQ(content(ba), run_cli("a<__image__>b<__image__>", {"rgb_37x23.png", "rgb_61x45.jpg"})["text"]);
  // Image before the text: the template keeps the client's order.
  const json first = ok_json(chat({image_part("rgb_61x45.jpg"), text_part("what?")}));
  EXPECT_EQ(content(first), run_cli("<__image__>what?", {"rgb_61x45.jpg"})["text"]);
}

std::string image_b64(const std::string& file) { return b64(read_file(kImages + file)); }

// /v1/responses: an input_image part answers as the same image_url part of chat completions, and
// the input tokens count the image's; a bad one is 400 naming the part.
TEST_F(ServerVision, ResponsesInputImageAnswersAsChatDoes) {
  const json c = ok_json(chat({text_part("what?"), image_part("rgb_61x45.jpg")}));
  const json body = {
      {"input",
       {{{"role", "user"},
         {"content",
          {{{"type", "input_text"}, {"text", "what?"}},
           {{"type", "input_image"}, {"image_url", "data:image/jpeg;base64," + image_b64("rgb_61x45.jpg")}}}}}}},
      {"max_output_tokens", 8},
      {"temperature", 0}};
  const json r = ok_json(http_post(server->port(), "/v1/responses", body.dump()));
  EXPECT_EQ(r["output"][0]["content"][0]["text"], content(c)) << r;
  EXPECT_EQ(r["usage"]["input_tokens"], c["usage"]["prompt_tokens"]) << r;
  json bad = body;
  const std::string jpeg = read_file(kImages + "rgb_61x45.jpg");
  bad["input"][0]["content"][1]["image_url"] =
      "data:image/jpeg;base64," + b64(std::string_view(jpeg).substr(0, jpeg.size() - 400));
  const HttpResponse b = http_post(server->port(), "/v1/responses", bad.dump());
  EXPECT_EQ(b.status, 400) << b.body;
  EXPECT_EQ(json::parse(b.body)["error"]["param"], "input[0].content[1].image_url") << b.body;
  EXPECT_NE(b.body.find("truncated"), std::string::npos) << b.body;
  // Continued by previous_response_id: the stored conversation keeps its image.
  const json next = {{"previous_response_id", r["id"]}, {"input", "and?"}, {"max_output_tokens", 2}};
  const json n = ok_json(http_post(server->port(), "/v1/responses", next.dump()));
  EXPECT_GT(n["usage"]["input_tokens"].get<int>(), r["usage"]["input_tokens"].get<int>()) << n;
}

// Ollama's images (base64, before the message's text): /api/chat and /api/generate answer as chat
// completions with the image part first, counting its tokens; a bad one is 400 naming it.
TEST_F(ServerVision, OllamaImagesAnswerAsChatDoes) {
  const json c = ok_json(chat({image_part("rgb_61x45.jpg"), text_part("what?")}));
  const json options = {{"temperature", 0}, {"repeat_penalty", 1}, {"num_predict", 8}};
  const json chat_body = {
      {"model", std::filesystem::path(llava().lm).stem().string()},
      {"stream", false},
      {"options", options},
      {"messages", {{{"role", "user"}, {"content", "what?"}, {"images", {image_b64("rgb_61x45.jpg")}}}}}};
  const HttpResponse oc = http_post(server->port(), "/api/chat", chat_body.dump());
  ASSERT_EQ(oc.status, 200) << oc.body;
  const json ocj = json::parse(oc.body);
  EXPECT_EQ(ocj["message"]["content"], content(c)) << ocj;
  EXPECT_EQ(ocj["prompt_eval_count"], c["usage"]["prompt_tokens"]) << ocj;
  const json gen_body = {{"model", std::filesystem::path(llava().lm).stem().string()},
                         {"stream", false},
                         {"options", options},
                         {"prompt", "what?"},
                         {"images", {image_b64("rgb_61x45.jpg")}}};
  const HttpResponse og = http_post(server->port(), "/api/generate", gen_body.dump());
  ASSERT_EQ(og.status, 200) << og.body;
  EXPECT_EQ(json::parse(og.body)["response"], content(c)) << og.body;
  EXPECT_EQ(json::parse(og.body)["prompt_eval_count"], c["usage"]["prompt_tokens"]) << og.body;
  json bad = chat_body;
  bad["messages"][0]["images"] = {image_b64("rgb_37x23.png"), "aGVsbG8gd29ybGQ="};
  const HttpResponse b = http_post(server->port(), "/api/chat", bad.dump());
  EXPECT_EQ(b.status, 400) << b.body;
  EXPECT_NE(b.body.find("messages[0].images[1]"), std::string::npos) << b.body;
  EXPECT_NE(b.body.find("not a JPEG, PNG, WebP or GIF"), std::string::npos) << b.body;
}

// `hayate chat --mmproj`: /image attaches to the next message, whose answer is `hayate run
// --image` on the same ChatML turn; a missing or bad file is said and the chat goes on.
TEST(ChatImage, AttachesToTheNextMessageAsRunDoes) {
  const std::string dir = ::testing::TempDir() + "/hayate-vision-chat-" + std::to_string(::getpid());
  const std::string prompt_file = dir + "-prompt", err_file = dir + "-stderr";
  std::ofstream(prompt_file, std::ios::binary)
      << "<|im_start|>user\n<__image__>what?<|im_end|>\n<|im_start|>assistant\n";
  const std::string model = " --temp 0 -n 8 -m " + llava().lm + " --mmproj " + llava().mmproj;
  const CommandResult run = run_command(kHayate + " run --json" + model + " --image " + kImages + "rgb_61x45.jpg -f " +
                                        prompt_file + " 2>/dev/null");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string answer = json::parse(run.output)["text"].get<std::string>();
  const std::string input = "/help\n/image " + kImages + "missing.png\n/image " + kImages +
                            "bad/bomb_12000x12000.png\n/image\n/image " + kImages +
                            "rgb_61x45.jpg\nwhat?\nmore?\n/exit\n";
  const CommandResult chat = run_command("printf '" + input + "' | " + kHayate + " chat" + model + " 2>" + err_file);
  const std::string err = read_file(err_file);
  EXPECT_EQ(chat.exit_code, 0) << chat.output << err;
  EXPECT_NE(chat.output.find("/image FILE"), std::string::npos) << chat.output;  // /help
  EXPECT_NE(err.find("hayate: " + kImages + "missing.png: cannot open the image\n"), std::string::npos) << err;
  EXPECT_NE(err.find("12000x12000"), std::string::npos) << err;
  EXPECT_NE(err.find("/image needs a file"), std::string::npos) << err;
  EXPECT_NE(err.find("rgb_61x45.jpg attached (1 for your next message)"), std::string::npos) << err;
  // After /help's list, four /image lines answered on stderr only, then the image's turn.
  EXPECT_NE(chat.output.find("quit\n> > > > > " + answer + "\n> "), std::string::npos) << chat.output << "\n" << answer;
  // The image went with that message only; the next turn is answered in the same conversation.
  EXPECT_EQ(err.find("does not accept"), std::string::npos) << err;
  EXPECT_EQ(err.find("\nhayate: ", err.find("attached")), std::string::npos) << err;
}

TEST_F(ServerVision, BadImagesAre400NamingThePartAndTheServerGoesOn) {
  const std::string jpeg = read_file(kImages + "rgb_61x45.jpg");
  const json truncated = {
      {"type", "image_url"},
      {"image_url", {{"url", "data:image/jpeg;base64," + b64(std::string_view(jpeg).substr(0, jpeg.size() - 400))}}}};
  const HttpResponse r = chat({text_part("a"), image_part("rgb_61x45.jpg"), truncated});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "messages[0].content[2].image_url.url") << r.body;
  EXPECT_NE(r.body.find("truncated"), std::string::npos) << r.body;
  const json garbage = {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,aGVsbG8gd29ybGQ="}}}};
  const HttpResponse g = chat({garbage});
  EXPECT_EQ(g.status, 400) << g.body;
  EXPECT_EQ(json::parse(g.body)["error"]["param"], "messages[0].content[0].image_url.url") << g.body;
  ok_json(chat({text_part("still there?"), image_part("rgb_37x23.png")}, 2));
}

TEST_F(ServerVision, PrefixCacheKeysImagesByTheirPixels) {
  // A prefix of its own (other tests' prompts share no block with it); the image starts at
  // `at` = <|im_start|> + "user\n" + prefix, and text follows it for two more blocks.
  const std::string prefix = "prefix cache, image keyed by content: ";
  const std::string suffix = "and after the image, enough text to fill two more blocks.";
  const int at = 1 + 5 + static_cast<int>(prefix.size());
  const auto cached = [&](const std::string& file) {
    const json j = ok_json(chat({text_part(prefix), image_part(file), text_part(suffix)}, 1));
    return j["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>();
  };
  EXPECT_EQ(cached("rgb_61x45.jpg"), 0);
  // Another image after the same text: only the blocks wholly before the image are shared.
  const int other = cached("rgb_37x23.png");
  EXPECT_GT(other, 0);
  EXPECT_LE(other, at);
  // The same image again: its blocks and the text after it too.
  EXPECT_GE(cached("rgb_61x45.jpg"), (at + kImageTokens) / 16 * 16 + 16);
}

}  // namespace
}  // namespace hayate::test
