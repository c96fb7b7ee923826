// The client: one connection per request (a scoring run is hundreds of requests at most, and a
// fresh connection never trips over a server that closed an idle one).
#include "eval/openai_client.h"

// clang-format off
#include <utility>  // before Asio (see STACK.md)
// clang-format on

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hayate::eval {

namespace beast = boost::beast;
namespace http = beast::http;
using nlohmann::json;

Endpoint parse_base_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    fail(ErrorKind::Unsupported, "--url " + url + ": https is not supported; use http:// (e.g. through a local proxy)");
  if (url.rfind(scheme, 0) != 0) fail(ErrorKind::BadInput, "--url " + url + ": expected http://HOST:PORT[/PATH]");
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Endpoint e;
  e.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!e.prefix.empty() && e.prefix.back() == '/') e.prefix.pop_back();
  if (e.prefix.size() >= 3 && e.prefix.compare(e.prefix.size() - 3, 3, "/v1") == 0)
    e.prefix.resize(e.prefix.size() - 3);  // people paste ".../v1" as the base URL too
  const size_t colon = authority.rfind(':');
  e.host = authority.substr(0, colon);
  e.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (e.host.empty() || e.port.empty() || e.port.find_first_not_of("0123456789") != std::string::npos)
    fail(ErrorKind::BadInput, "--url " + url + ": expected http://HOST:PORT[/PATH]");
  return e;
}

OpenAiClient::OpenAiClient(ClientOptions options)
    : options_(std::move(options)), endpoint_(parse_base_url(options_.url)) {}

std::string OpenAiClient::complete(const std::string& prompt, int max_tokens) const {
  const bool chat = options_.api == CompletionApi::Chat;
  const std::string path = endpoint_.prefix + (chat ? "/v1/chat/completions" : "/v1/completions");
  json body = {{"max_tokens", max_tokens}, {"temperature", 0}, {"stream", false}};
  if (chat)
    body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  else
    body["prompt"] = prompt;
  if (!options_.model.empty()) body["model"] = options_.model;
  const std::string where = options_.url + path;

  http::response<http::string_body> res;
  try {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    boost::asio::ip::tcp::resolver resolver(ioc);
    stream.expires_after(options_.timeout);
    stream.connect(resolver.resolve(endpoint_.host, endpoint_.port));
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, endpoint_.host + ":" + endpoint_.port);
    req.set(http::field::content_type, "application/json");
    if (!options_.api_key.empty()) req.set(http::field::authorization, "Bearer " + options_.api_key);
    req.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
    req.prepare_payload();
    stream.expires_after(options_.timeout);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buffer, parser);
    res = parser.release();
    beast::error_code ec;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  } catch (const boost::system::system_error& e) {
    fail(ErrorKind::NotFound, where + ": " + e.code().message());
  }
  const int status = static_cast<int>(res.result_int());
  if (status != 200)
    fail(status == 400 || status == 422 ? ErrorKind::BadInput : ErrorKind::Internal,
         where + ": HTTP " + std::to_string(status) + ": " + res.body().substr(0, 400));
  try {
    const json j = json::parse(res.body());
    const json& choice = j.at("choices").at(0);
    const json& text = chat ? choice.at("message").at("content") : choice.at("text");
    return text.is_null() ? std::string() : text.get<std::string>();
  } catch (const json::exception& e) {
    fail(ErrorKind::BadInput, where + ": not an OpenAI-style completion (" + std::string(e.what()) + ")");
  }
}

}  // namespace hayate::eval
