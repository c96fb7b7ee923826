#include "net/url.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cctype>

#include "core/error.h"

namespace hayate::net {

namespace {

const char* const kShape =
    "expected http://HOST:PORT[/PATH] or https://... (the port defaults to 80, or 443 for https; an IPv6 host in "
    "brackets)";

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  fail(ErrorKind::BadInput, "URL " + std::string(text) + ": " + why);
}

bool host_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'; }

void check_port(std::string_view text, const std::string& port) {
  if (port.empty()) bad(text, "nothing after the ':' that starts the port");
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
      std::stoi(port) > 65535)
    bad(text, "the port '" + port + "' is not a number from 1 to 65535");
}

// host and port from the authority (the part between "http://" and the path).
void read_authority(std::string_view text, std::string_view authority, Url& u) {
  if (authority.empty()) bad(text, std::string("no host; ") + kShape);
  if (authority.find('@') != std::string_view::npos)
    bad(text, "credentials in a URL are not supported; pass the API key on its own");
  std::string_view after;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) bad(text, "the IPv6 address has no closing ']'");
    u.host = std::string(authority.substr(1, close - 1));
    boost::system::error_code ec;
    asio::ip::make_address_v6(u.host, ec);
    if (u.host.empty() || ec) bad(text, "'[" + u.host + "]' is not an IPv6 address");
    after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      bad(text, "'" + std::string(after) + "' after the IPv6 address; expected ':PORT' or nothing");
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos)
      bad(text, "an IPv6 address goes in brackets, e.g. http://[::1]:8080");
    u.host = std::string(authority.substr(0, colon));
    if (u.host.empty()) bad(text, std::string("no host before the port; ") + kShape);
    if (!std::all_of(u.host.begin(), u.host.end(), host_name_char))
      bad(text, "the host '" + u.host + "' has a character no host name has");
    if (colon != std::string_view::npos) after = authority.substr(colon);
  }
  u.port = after.empty() ? (u.tls ? "443" : "80") : std::string(after.substr(1));
  if (!after.empty()) check_port(text, u.port);
}

}  // namespace

std::string Url::authority() const { return (ipv6() ? "[" + host + "]" : host) + ":" + port; }

std::string Url::at(std::string_view path) const {
  return (tls ? "https://" : "http://") + authority() + base + std::string(path);
}

Url parse_url(std::string_view text) {
  if (text.empty()) bad(text, std::string("empty; ") + kShape);
  if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) <= ' '; }))
    bad(text, "a space or control character in the URL");
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) bad(text, kShape);
  const boost::beast::string_view scheme(text.data(), scheme_end);
  const bool tls = boost::beast::iequals(scheme, "https");
  if (!tls && !boost::beast::iequals(scheme, "http"))
    bad(text, "the scheme '" + std::string(scheme) + "' is not supported; " + kShape);
  const std::string_view rest = text.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos)
    bad(text, "a query or fragment means nothing in a base URL; give only http(s)://HOST:PORT[/PATH]");
  const size_t slash = rest.find('/');
  Url u;
  u.text = std::string(text);
  u.tls = tls;
  read_authority(text, rest.substr(0, slash), u);
  if (slash != std::string_view::npos) u.base = std::string(rest.substr(slash));
  while (!u.base.empty() && u.base.back() == '/') u.base.pop_back();
  return u;
}

Url parse_api_url(std::string_view text) {
  Url u = parse_url(text);
  if (u.base.ends_with("/v1")) u.base.resize(u.base.size() - 3);
  while (!u.base.empty() && u.base.back() == '/') u.base.pop_back();
  return u;
}

Endpoint resolve(Url url) {
  Endpoint ep;
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  for (const auto& e : resolver.resolve(url.host, url.port, ec)) ep.addresses.push_back(e.endpoint());
  if (ec || ep.addresses.empty())
    bad(url.text, "cannot resolve the host " + url.host + (ec ? ": " + ec.message() : ""));
  ep.url = std::move(url);
  return ep;
}

std::string percent_decoded(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace hayate::net
