#include "core/error.h"

#include <iterator>

namespace hayate {
namespace {

// Exit codes after sysexits.h where one fits (69 unavailable, 70 software, 75 try again).
// A full queue is 429, so clients (OpenAI's SDKs) back off and retry; shutting down and a stalled
// engine are 503.
constexpr ErrorKindInfo kKinds[] = {
    {ErrorKind::BadInput, "bad input", 2, 400, "invalid_request_error", ""},
    {ErrorKind::NotFound, "not found", 3, 404, "invalid_request_error", "not_found"},
    {ErrorKind::Unsupported, "unsupported", 4, 422, "invalid_request_error", "unsupported"},
    {ErrorKind::ResourceExhausted, "resource exhausted", 5, 503, "server_error", "resource_exhausted"},
    {ErrorKind::Busy, "busy", 75, 429, "server_busy", "queue_full"},
    {ErrorKind::Unavailable, "unavailable", 69, 503, "server_error", "shutting_down"},
    {ErrorKind::Timeout, "timed out", 75, 504, "server_error", "timeout"},
    // Not shutting_down: the server will serve again once the step ends, so a client or a gateway
    // may retry (here later, or on another replica); /health says the same code.
    {ErrorKind::EngineUnhealthy, "engine unhealthy", 75, 503, "server_error", "engine_unhealthy"},
    {ErrorKind::Internal, "internal error", 70, 500, "server_error", "internal_error"},
};

constexpr bool in_kind_order() {
  for (size_t i = 0; i < std::size(kKinds); ++i)
    if (static_cast<size_t>(kKinds[i].kind) != i) return false;
  return std::size(kKinds) == static_cast<size_t>(ErrorKind::Internal) + 1;
}
static_assert(in_kind_order(), "kKinds has one row per ErrorKind, in the enum's order");

}  // namespace

const ErrorKindInfo& error_kind_info(ErrorKind kind) {
  const auto i = static_cast<size_t>(kind);
  return i < std::size(kKinds) ? kKinds[i] : kKinds[static_cast<size_t>(ErrorKind::Internal)];
}

}  // namespace hayate
