// The one error mechanism of hayate: an exception carrying a category. The category decides
// the CLI exit code and (later) the HTTP status, in one place (exit_code / http_status).
#pragma once

#include <stdexcept>
#include <string>

namespace hayate {

enum class ErrorKind {
  BadInput,           // the user's file, flag or request is wrong
  NotFound,           // a named file, tensor, key or model does not exist
  Unsupported,        // valid, but this build cannot handle it (a tensor type, an architecture)
  ResourceExhausted,  // out of memory, KV blocks, queue slots
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

const char* kind_name(ErrorKind kind);
int exit_code(ErrorKind kind);
int http_status(ErrorKind kind);

}  // namespace hayate
