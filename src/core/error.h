// The one error mechanism of hayate: an exception carrying a kind. The kind decides the CLI exit
// code and the HTTP status (with the OpenAI error type and code), in one table (error.cpp), never
// the message text.
#pragma once

#include <stdexcept>
#include <string>

namespace hayate {

enum class ErrorKind {
  BadInput,           // the user's file, flag or request is wrong
  NotFound,           // a named file, tensor, key or model does not exist
  Unsupported,        // valid, but this build cannot handle it (a tensor type, an architecture)
  ResourceExhausted,  // out of memory, KV blocks, disk
  Busy,               // temporarily full (the engine's queue): the same request may succeed later
  Unavailable,        // shutting down: nothing more will be taken
  Timeout,            // a request's deadline passed
  EngineUnhealthy,    // the engine's watchdog found its loop stalled: refused fast until it moves again
  Internal,           // a bug in hayate
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

// An Error's kind; Internal for any other exception (a bug, or a library's failure).
inline ErrorKind kind_of(const std::exception& e) {
  const auto* error = dynamic_cast<const Error*>(&e);
  return error ? error->kind() : ErrorKind::Internal;
}

// What a kind means outside the process.
struct ErrorKindInfo {
  ErrorKind kind;
  const char* name;       // for people: "bad input"
  int exit_code;          // hayate's exit status
  int http_status;        // the server's status
  const char* http_type;  // OpenAI's error.type
  const char* http_code;  // OpenAI's error.code; "" for none (null on the wire)
};
const ErrorKindInfo& error_kind_info(ErrorKind kind);

inline const char* kind_name(ErrorKind kind) { return error_kind_info(kind).name; }
inline int exit_code(ErrorKind kind) { return error_kind_info(kind).exit_code; }
inline int http_status(ErrorKind kind) { return error_kind_info(kind).http_status; }

}  // namespace hayate
