// The one table from an error's kind to what the world sees: exit codes, HTTP statuses, OpenAI
// error types and codes.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/error.h"

namespace hayate {
namespace {

constexpr ErrorKind kAll[] = {
    ErrorKind::BadInput, ErrorKind::NotFound,    ErrorKind::Unsupported, ErrorKind::ResourceExhausted,
    ErrorKind::Busy,     ErrorKind::Unavailable, ErrorKind::Timeout,     ErrorKind::EngineUnhealthy,
    ErrorKind::Internal};

TEST(ErrorKinds, EachKindHasItsOwnRow) {
  std::set<std::string> names, codes;
  for (ErrorKind k : kAll) {
    const ErrorKindInfo& info = error_kind_info(k);
    EXPECT_EQ(info.kind, k);
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    if (*info.http_code) {
      EXPECT_TRUE(codes.insert(info.http_code).second) << info.http_code;
    }
    EXPECT_NE(info.exit_code, 0) << info.name;
    EXPECT_GE(info.http_status, 400) << info.name;
  }
}

TEST(ErrorKinds, StatusesAndExitCodes) {
  EXPECT_EQ(http_status(ErrorKind::BadInput), 400);
  EXPECT_EQ(http_status(ErrorKind::NotFound), 404);
  EXPECT_EQ(http_status(ErrorKind::Unsupported), 422);
  EXPECT_EQ(http_status(ErrorKind::ResourceExhausted), 503);
  EXPECT_EQ(http_status(ErrorKind::Busy), 429);  // clients back off and retry
  EXPECT_EQ(http_status(ErrorKind::Unavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::Timeout), 504);
  EXPECT_EQ(http_status(ErrorKind::EngineUnhealthy), 503);  // the watchdog found the engine stalled
  EXPECT_EQ(http_status(ErrorKind::Internal), 500);
  EXPECT_STREQ(error_kind_info(ErrorKind::Busy).http_code, "queue_full");
  EXPECT_STREQ(error_kind_info(ErrorKind::Unavailable).http_code, "shutting_down");
  EXPECT_STREQ(error_kind_info(ErrorKind::Timeout).http_code, "timeout");
  EXPECT_STREQ(error_kind_info(ErrorKind::EngineUnhealthy).http_code, "engine_unhealthy");
  // The exit codes scripts and tests already rely on.
  EXPECT_EQ(exit_code(ErrorKind::BadInput), 2);
  EXPECT_EQ(exit_code(ErrorKind::NotFound), 3);
  EXPECT_EQ(exit_code(ErrorKind::Unsupported), 4);
  EXPECT_EQ(exit_code(ErrorKind::ResourceExhausted), 5);
  EXPECT_EQ(exit_code(ErrorKind::Internal), 70);
}

TEST(ErrorKinds, KindOfAnyException) {
  EXPECT_EQ(kind_of(Error(ErrorKind::Busy, "queue full")), ErrorKind::Busy);
  EXPECT_EQ(kind_of(std::runtime_error("a library failed")), ErrorKind::Internal);
}

}  // namespace
}  // namespace hayate
