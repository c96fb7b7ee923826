// The one URL parser of the HTTP clients: a table of URLs it reads and of URLs it refuses, with
// what each refusal says.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "net/url.h"

namespace hayate::net {
namespace {

struct Good {
  std::string text, host, port, base, api_base, authority;
  bool tls = false;
};

const std::vector<Good> kGood = {
    {"http://127.0.0.1:8080", "127.0.0.1", "8080", "", "", "127.0.0.1:8080"},
    {"http://127.0.0.1:8080/", "127.0.0.1", "8080", "", "", "127.0.0.1:8080"},
    {"http://localhost", "localhost", "80", "", "", "localhost:80"},
    {"http://example.com/", "example.com", "80", "", "", "example.com:80"},
    {"HTTP://Example.com:81", "Example.com", "81", "", "", "Example.com:81"},
    {"http://my-host_1.internal:65535/api", "my-host_1.internal", "65535", "/api", "/api", "my-host_1.internal:65535"},
    {"http://host:8000/openai/v1", "host", "8000", "/openai/v1", "/openai", "host:8000"},
    {"http://host:8000/openai/v1/", "host", "8000", "/openai/v1", "/openai", "host:8000"},
    {"http://host:8000/v1", "host", "8000", "/v1", "", "host:8000"},
    {"http://host/a/b//", "host", "80", "/a/b", "/a/b", "host:80"},
    {"http://host/v10", "host", "80", "/v10", "/v10", "host:80"},
    {"http://[::1]:8080", "::1", "8080", "", "", "[::1]:8080"},
    {"http://[::1]", "::1", "80", "", "", "[::1]:80"},
    {"http://[::1]/v1", "::1", "80", "/v1", "", "[::1]:80"},
    {"http://[fe80::1:2]:9000/base", "fe80::1:2", "9000", "/base", "/base", "[fe80::1:2]:9000"},
    {"http://[::ffff:127.0.0.1]:1", "::ffff:127.0.0.1", "1", "", "", "[::ffff:127.0.0.1]:1"},
    {"https://example.com", "example.com", "443", "", "", "example.com:443", true},
    {"HTTPS://example.com:8443/v1", "example.com", "8443", "/v1", "", "example.com:8443", true},
    {"https://[::1]/openai", "::1", "443", "/openai", "/openai", "[::1]:443", true},
};

TEST(NetUrl, Reads) {
  for (const Good& g : kGood) {
    SCOPED_TRACE(g.text);
    const Url u = parse_url(g.text);
    EXPECT_EQ(u.text, g.text);
    EXPECT_EQ(u.host, g.host);
    EXPECT_EQ(u.port, g.port);
    EXPECT_EQ(u.base, g.base);
    EXPECT_EQ(u.authority(), g.authority);
    EXPECT_EQ(u.tls, g.tls);
    EXPECT_EQ(u.ipv6(), g.host.find(':') != std::string::npos);
    EXPECT_EQ(parse_api_url(g.text).base, g.api_base);
  }
}

TEST(NetUrl, AbsoluteUrlOfAPath) {
  EXPECT_EQ(parse_api_url("http://[::1]:8080/openai/v1/").at("/v1/models"), "http://[::1]:8080/openai/v1/models");
  EXPECT_EQ(parse_url("http://h").at("/x"), "http://h:80/x");
  EXPECT_EQ(parse_url("https://h/api").at("/x"), "https://h:443/api/x");
}

struct Bad {
  std::string text;
  ErrorKind kind;
  std::string says;
};

const std::vector<Bad> kBad = {
    {"https://", ErrorKind::BadInput, "no host"},
    {"https://host:0", ErrorKind::BadInput, "not a number from 1 to 65535"},
    {"127.0.0.1:8080", ErrorKind::BadInput, "expected http://HOST:PORT"},
    {"", ErrorKind::BadInput, "empty"},
    {"ftp://host", ErrorKind::BadInput, "the scheme 'ftp' is not supported"},
    {"http://", ErrorKind::BadInput, "no host"},
    {"http:///v1", ErrorKind::BadInput, "no host"},
    {"http://:8080", ErrorKind::BadInput, "no host before the port"},
    {"http://host:", ErrorKind::BadInput, "nothing after the ':'"},
    {"http://host:http", ErrorKind::BadInput, "the port 'http' is not a number from 1 to 65535"},
    {"http://host:0", ErrorKind::BadInput, "not a number from 1 to 65535"},
    {"http://host:65536", ErrorKind::BadInput, "not a number from 1 to 65535"},
    {"http://host:123456", ErrorKind::BadInput, "not a number from 1 to 65535"},
    {"http://host:-1", ErrorKind::BadInput, "not a number from 1 to 65535"},
    {"http://::1:8080", ErrorKind::BadInput, "an IPv6 address goes in brackets"},
    {"http://[::1:8080", ErrorKind::BadInput, "no closing ']'"},
    {"http://[]:8080", ErrorKind::BadInput, "'[]' is not an IPv6 address"},
    {"http://[nope]:8080", ErrorKind::BadInput, "'[nope]' is not an IPv6 address"},
    {"http://[::1]8080", ErrorKind::BadInput, "after the IPv6 address"},
    {"http://[::1]:", ErrorKind::BadInput, "nothing after the ':'"},
    {"http://user:pw@host", ErrorKind::BadInput, "credentials in a URL are not supported"},
    {"http://host/path?x=1", ErrorKind::BadInput, "a query or fragment"},
    {"http://host#top", ErrorKind::BadInput, "a query or fragment"},
    {"http://ho st", ErrorKind::BadInput, "a space or control character"},
    {" http://host", ErrorKind::BadInput, "a space or control character"},
    {"http://ho$t", ErrorKind::BadInput, "the host 'ho$t' has a character"},
};

TEST(NetUrl, PercentDecoding) {
  EXPECT_EQ(percent_decoded("guides%2Fport.md"), "guides/port.md");
  EXPECT_EQ(percent_decoded("a+b%20c"), "a+b c");
  EXPECT_EQ(percent_decoded("a+b%20c", true), "a b c");
  EXPECT_EQ(percent_decoded("100%"), "100%");
  EXPECT_EQ(percent_decoded("%zz%4"), "%zz%4");
  EXPECT_EQ(percent_decoded("%c3%A9"), "\xC3\xA9");
}

TEST(NetUrl, RefusesWithAClearError) {
  for (const Bad& b : kBad) {
    SCOPED_TRACE(b.text);
    try {
      parse_url(b.text);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), b.kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(b.says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("URL " + b.text), std::string::npos) << "names the URL: " << e.what();
    }
  }
}

TEST(NetUrl, ResolvesNumericHosts) {
  const Endpoint v4 = resolve(parse_url("http://127.0.0.1:8080"));
  ASSERT_EQ(v4.addresses.size(), 1u);
  EXPECT_EQ(v4.addresses[0].port(), 8080);
  EXPECT_TRUE(v4.addresses[0].address().is_v4());
  const Endpoint v6 = resolve(parse_url("http://[::1]:9"));
  ASSERT_FALSE(v6.addresses.empty());
  EXPECT_TRUE(v6.addresses[0].address().is_v6());
  EXPECT_EQ(v6.url.host, "::1");
}

}  // namespace
}  // namespace hayate::net
