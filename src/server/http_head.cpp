#include "server/http_head.h"

#include <boost/beast/core/string.hpp>

namespace hayate::server {

std::string framing_error(const boost::beast::http::fields& head) {
  namespace http = boost::beast::http;
  size_t lengths = 0, encodings = 0;
  std::string encoding;
  for (const auto& field : head) {
    if (field.name() == http::field::content_length) ++lengths;
    if (field.name() == http::field::transfer_encoding) {
      ++encodings;
      encoding = std::string(field.value());
    }
  }
  if (lengths > 0 && encodings > 0)
    return "The request has both Content-Length and Transfer-Encoding headers; send one of them";
  if (lengths > 1) return "The request has " + std::to_string(lengths) + " Content-Length headers; send one";
  if (encodings > 1 || (encodings == 1 && !boost::beast::iequals(encoding, "chunked")))
    return "Unsupported Transfer-Encoding '" + encoding + "': only a single 'chunked' is accepted";
  return "";
}

}  // namespace hayate::server
