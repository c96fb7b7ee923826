// image_url parts in chat messages: the placeholder where the part was, data: URLs decoded
// within the limit, http(s) URLs kept for the server, and the per-request image count.
#include <gtest/gtest.h>

#include "api/openai.h"
#include "core/base64.h"

namespace hayate::api {
namespace {

std::string chat_with(const std::string& parts) {
  return R"({"messages": [{"role": "user", "content": [)" + parts + "]}]}";
}

std::string image_part(const std::string& url) {
  return R"({"type": "image_url", "image_url": {"url": ")" + url + R"("}})";
}

TEST(ApiImages, DataUrlsAreDecodedAndLeaveAPlaceholder) {
  const std::vector<uint8_t> bytes = {0x89, 'P', 'N', 'G', 1, 2, 3};
  const std::string url = "data:image/png;base64," + base64_encode(bytes);
  const ChatCompletionRequest r = parse_chat_request(
      chat_with(R"({"type": "text", "text": "look: "}, )" + image_part(url) + R"(, {"type": "text", "text": " ok?"})"),
      Limits{});
  ASSERT_EQ(r.messages.size(), 1u);
  const ChatMessage& m = r.messages[0];
  EXPECT_EQ(m.content, "look: " + std::string(kImagePlaceholder) + " ok?");
  EXPECT_EQ(m.raw["content"], m.content);
  ASSERT_EQ(m.image_parts.size(), 1u);
  EXPECT_EQ(m.image_parts[0].mime, "image/png");
  EXPECT_EQ(m.image_parts[0].bytes, bytes);
  EXPECT_EQ(m.image_parts[0].param, "messages[0].content[1].image_url.url");
  EXPECT_TRUE(m.image_parts[0].url.empty());
}

TEST(ApiImages, HttpUrlsAreKeptForTheServer) {
  const ChatCompletionRequest r = parse_chat_request(chat_with(image_part("https://example.test/cat.jpg")), Limits{});
  ASSERT_EQ(r.messages[0].image_parts.size(), 1u);
  EXPECT_EQ(r.messages[0].image_parts[0].url, "https://example.test/cat.jpg");
  EXPECT_TRUE(r.messages[0].image_parts[0].bytes.empty());
}

TEST(ApiImages, LimitsTheSizeBeforeDecodingAndTheCount) {
  Limits limits;
  limits.max_image_bytes = 30;
  const std::string big = "data:image/png;base64," + base64_encode(std::vector<uint8_t>(60, 7));
  try {
    parse_chat_request(chat_with(image_part(big)), limits);
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find("image_max_bytes"), std::string::npos) << e.what();
  }
  limits = Limits{};
  limits.max_images = 1;
  const std::string one = image_part("http://a.test/x.png");
  EXPECT_NO_THROW(parse_chat_request(chat_with(one), limits));
  EXPECT_THROW(parse_chat_request(chat_with(one + "," + one), limits), ApiError);
}

}  // namespace
}  // namespace hayate::api
