// base64 as RFC 4648 writes it, and clear errors for text that is not base64.
#include <gtest/gtest.h>

#include "core/base64.h"
#include "core/error.h"

namespace hayate {
namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(CoreBase64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> cases[] = {{"", ""},
                                                       {"f", "Zg=="},
                                                       {"fo", "Zm8="},
                                                       {"foo", "Zm9v"},
                                                       {"foob", "Zm9vYg=="},
                                                       {"fooba", "Zm9vYmE="},
                                                       {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(base64_encode(bytes(plain)), encoded);
    EXPECT_EQ(base64_decode(encoded), bytes(plain));
  }
}

TEST(CoreBase64, EveryByteValueRoundTrips) {
  std::vector<uint8_t> all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<uint8_t>(i));
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
}

TEST(CoreBase64, BadTextIsRefusedWithWhatWasWrong) {
  for (const char* bad : {"abc", "ab!d", "a===", "=abc", "ab=c", "Zg==Zg=="}) {
    try {
      base64_decode(bad, "'data'");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      EXPECT_NE(std::string(e.what()).find("'data' is not base64"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hayate
