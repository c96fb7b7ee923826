// Where an HTTP client sends its requests: a URL (`http://host[:port][/base]`, or https://), read
// once by the one parser every client uses, and the addresses its host resolves to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/asio.h"

namespace hayate::net {

struct Url {
  std::string text;  // as given
  std::string host;  // a name, an IPv4 address or an IPv6 address without its brackets
  std::string port;  // digits; "80" (https: "443") when the URL names none
  std::string base;  // the path prefix without a trailing '/': "" or "/openai"
  bool tls = false;  // https: the server's certificate is verified against the system's CAs

  bool ipv6() const { return host.find(':') != std::string::npos; }
  // host:port as a Host header and a URL write it ("[::1]:8080").
  std::string authority() const;
  // The absolute URL of `path` under the base, for messages: "http://[::1]:8080/openai/v1/models".
  std::string at(std::string_view path) const;
};

// Throws Error(BadInput) saying what is wrong with a URL that is not http(s)://HOST[:PORT][/PATH].
Url parse_url(std::string_view text);
// parse_url, then a trailing "/v1" dropped from the base: people paste an OpenAI-style API's base
// URL with it, and the clients add "/v1/..." to every route themselves.
Url parse_api_url(std::string_view text);

// %XX escapes decoded (and '+' as a space when `plus_is_space`, as in a query string); a '%'
// without two hex digits after it stays as it is.
std::string percent_decoded(std::string_view s, bool plus_is_space = false);

struct Endpoint {
  Url url;
  std::vector<tcp::endpoint> addresses;  // looked up once, by resolve
};
// A blocking lookup of the URL's host; throws Error(BadInput) naming it when it does not resolve.
Endpoint resolve(Url url);

}  // namespace hayate::net
