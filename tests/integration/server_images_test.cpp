// Images in chat requests to the real `hayate serve` (issue 19): every bad image of the issue
// answered 400 with a message naming the part, a good one refused because the default model has
// no vision encoder, the server still serving text after all of them; and `hayate run --image`
// saying the same.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/server_harness.h"
#include "support/test_util.h"

namespace hayate::test {
namespace {

using nlohmann::json;

ServerProcess* server = nullptr;

class ServerImages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server = new ServerProcess({"--max-body-bytes", "4194304"}); }
  static void TearDownTestSuite() {
    if (!server) return;
    EXPECT_EQ(server->stop(), 0);
    delete server;
    server = nullptr;
  }
};

std::vector<uint8_t> image_bytes(const std::string& name) {
  const std::string s = read_file(std::string(HAYATE_TESTDATA) + "/images/" + name);
  return {s.begin(), s.end()};
}

HttpResponse send_image(const std::string& url) {
  const json body = {
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "text"}, {"text", "what is this?"}}, {{"type", "image_url"}, {"image_url", {{"url", url}}}}}}}}},
      {"max_tokens", 2}};
  return http_post(server->port(), "/v1/chat/completions", body.dump());
}

std::string data_url(const std::string& mime, const std::vector<uint8_t>& bytes) {
  return "data:" + mime + ";base64," + base64_encode(bytes);
}

// A 400 whose param is the image part and whose message holds `says`.
void expect_400(const HttpResponse& r, const std::string& says) {
  EXPECT_EQ(r.status, 400) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["param"], "messages[0].content[1].image_url.url") << r.body;
  EXPECT_NE(j["error"]["message"].get<std::string>().find(says), std::string::npos) << r.body;
}

TEST_F(ServerImages, AGoodImageIsRefusedByATextOnlyModel) {
  const HttpResponse r = send_image(data_url("image/png", image_bytes("rgba_40x30.png")));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("does not accept images"), std::string::npos) << r.body;
}

// The other doors say what image_url says: /v1/responses input_image and Ollama's images refused
// by a text-only model, a wrong media type and an empty image named by their parameter.
TEST_F(ServerImages, ResponsesAndOllamaImagesAreCheckedAlike) {
  const std::string model = json::parse(http_get(server->port(), "/v1/models").body)["data"][0]["id"];
  const std::string png = base64_encode(image_bytes("rgba_40x30.png"));
  const json responses = {
      {"input",
       {{{"role", "user"}, {"content", {{{"type", "input_image"}, {"image_url", "data:image/png;base64," + png}}}}}}}};
  const HttpResponse r = http_post(server->port(), "/v1/responses", responses.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("does not accept images"), std::string::npos) << r.body;
  const json ollama_chat = {
      {"model", model}, {"stream", false}, {"messages", {{{"role", "user"}, {"content", "hi"}, {"images", {png}}}}}};
  const HttpResponse oc = http_post(server->port(), "/api/chat", ollama_chat.dump());
  EXPECT_EQ(oc.status, 400) << oc.body;
  EXPECT_NE(oc.body.find("does not accept images"), std::string::npos) << oc.body;
  const json generate = {{"model", model}, {"stream", false}, {"prompt", "hi"}, {"images", {png}}};
  const HttpResponse og = http_post(server->port(), "/api/generate", generate.dump());
  EXPECT_EQ(og.status, 400) << og.body;
  EXPECT_NE(og.body.find("does not accept images"), std::string::npos) << og.body;
  json mime = responses;
  mime["input"][0]["content"][0]["image_url"] = "data:text/plain;base64," + png;
  const HttpResponse m = http_post(server->port(), "/v1/responses", mime.dump());
  EXPECT_EQ(m.status, 400) << m.body;
  EXPECT_NE(m.body.find("'input[0].content[0].image_url' declares the media type 'text/plain'"), std::string::npos)
      << m.body;
  json empty = generate;
  empty["images"] = {""};
  const HttpResponse e = http_post(server->port(), "/api/generate", empty.dump());
  EXPECT_EQ(e.status, 400) << e.body;
  EXPECT_NE(e.body.find("'images[0]' holds an empty image"), std::string::npos) << e.body;
}

TEST_F(ServerImages, BadImagesAre400WithAMessage) {
  std::vector<uint8_t> jpeg = image_bytes("rgb_61x45.jpg");
  std::vector<uint8_t> truncated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() - 400));
  expect_400(send_image(data_url("image/jpeg", truncated)), "truncated");
  for (size_t i = 0; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {  // SOF0: claim 30000 x 30000
      jpeg[i + 5] = jpeg[i + 7] = 30000 >> 8;
      jpeg[i + 6] = jpeg[i + 8] = 30000 & 0xff;
      break;
    }
  expect_400(send_image(data_url("image/jpeg", jpeg)), "30000x30000");
  expect_400(send_image(data_url("image/jpeg", image_bytes("rgb_37x23.png"))), "declared as 'image/jpeg'");
  expect_400(send_image(data_url("image/png", image_bytes("bad/bomb_12000x12000.png"))), "12000x12000");
  const std::string text = "definitely not an image";
  expect_400(send_image(data_url("image/png", {text.begin(), text.end()})), "not a JPEG, PNG, WebP or GIF");
  expect_400(send_image(data_url("image/gif", {'G', 'I', 'F', '8', '9', 'a', 4, 0, 4, 0, 0, 0, 0, 0x3b})),
             "no image frame");
  std::vector<uint8_t> zero = image_bytes("anim_24x16.gif");
  zero[6] = zero[7] = 0;
  expect_400(send_image(data_url("image/gif", zero)), "0x16");
  expect_400(send_image("data:image/png;base64,"), "empty image");
  expect_400(send_image("http://127.0.0.1:1/cat.png"), "image_url_fetch is off");
  // None of it hurt the server.
  const HttpResponse ok = http_post(server->port(), "/v1/chat/completions",
                                    R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST(CliImages, RunAndChatSayWhatTheServerSays) {
  const std::string bin = HAYATE_BIN, images = std::string(HAYATE_TESTDATA) + "/images/";
  const CommandResult good = run_command(bin + " run -p hi -n 1 --image " + images + "rgb_61x45.jpg 2>&1");
  EXPECT_NE(good.exit_code, 0);
  EXPECT_NE(good.output.find("does not accept images"), std::string::npos) << good.output;
  const CommandResult bomb = run_command(bin + " run -p hi -n 1 --image " + images + "bad/bomb_12000x12000.png 2>&1");
  EXPECT_NE(bomb.exit_code, 0);
  EXPECT_NE(bomb.output.find("12000x12000"), std::string::npos) << bomb.output;
  const CommandResult chat =
      run_command("printf '/image " + images + "rgb_37x23.png\\n/exit\\n' | " + bin + " chat -n 1 2>&1");
  EXPECT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_NE(chat.output.find("does not accept images"), std::string::npos) << chat.output;
  EXPECT_NE(chat.output.find("start hayate chat with --mmproj FILE"), std::string::npos) << chat.output;
}

}  // namespace
}  // namespace hayate::test
