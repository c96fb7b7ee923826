// libFuzzer target for what the server does with a request's bytes before a handler sees them
// (issue 22): Beast's request parser under the server's limits, then the server's own smuggling
// checks. Any bytes must end in a parser error, an incomplete request, or a request whose framing
// verdict is consistent: a head with both Content-Length and Transfer-Encoding, or with two
// Content-Lengths, is never let through. A crash, a sanitizer report or an abort is a finding.
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "server/http_head.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(4096);
  parser.body_limit(65536);
  parser.eager(true);
  boost::beast::error_code ec;
  // Fed as a network might split it (the first byte picks where): bytes the parser did not take
  // (need_more) are offered again with the rest, as Beast's readers do.
  const size_t split = size > 0 ? data[0] % (size + 1) : 0;
  size_t at = 0;
  for (const size_t end : {split, size}) {
    while (!ec && at < end && !parser.is_done()) {
      const size_t n = parser.put(boost::asio::buffer(data + at, end - at), ec);
      at += n;
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (n == 0) break;
    }
    if (ec) return 0;
  }
  if (!parser.is_header_done()) return 0;
  const auto& head = parser.get();
  const std::string why = hayate::server::framing_error(head);
  size_t lengths = 0, encodings = 0;
  for (const auto& field : head) {
    lengths += field.name() == http::field::content_length;
    encodings += field.name() == http::field::transfer_encoding;
  }
  if ((lengths > 0 && encodings > 0) || lengths > 1 || encodings > 1) require(!why.empty());
  if (lengths <= 1 && encodings == 0) require(why.empty());
  return 0;
}
