#include "core/error.h"

namespace hayate {

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadInput:
      return "bad input";
    case ErrorKind::NotFound:
      return "not found";
    case ErrorKind::Unsupported:
      return "unsupported";
    case ErrorKind::ResourceExhausted:
      return "resource exhausted";
    case ErrorKind::Internal:
      return "internal error";
  }
  return "error";
}

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadInput:
      return 2;
    case ErrorKind::NotFound:
      return 3;
    case ErrorKind::Unsupported:
      return 4;
    case ErrorKind::ResourceExhausted:
      return 5;
    case ErrorKind::Internal:
      return 70;
  }
  return 1;
}

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadInput:
      return 400;
    case ErrorKind::NotFound:
      return 404;
    case ErrorKind::Unsupported:
      return 422;
    case ErrorKind::ResourceExhausted:
      return 503;
    case ErrorKind::Internal:
      return 500;
  }
  return 500;
}

}  // namespace hayate
