// A load client for server tests: many concurrent streaming requests from one thread, on
// Boost.Asio/Beast C++20 coroutines (one io_context, one coroutine per connection, no thread per
// request). Each response is read as it arrives and checked by the strict SSE reader; some
// requests are cancelled midway by closing the socket after their first chunks.
#pragma once

// clang-format off
#include <utility>  // before Asio (see STACK.md)
// clang-format on

#define BOOST_ASIO_DISABLE_AWAITABLE_FRAME_RECYCLING  // as the server does (g++ 12 false warnings)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/openai.h"
#include "core/error.h"

namespace hayate::test {

struct LoadPlan {
  int port = 0;
  int concurrency = 64;
  int requests = 2000;
  // Request i (0-based) as a JSON body; it should ask for a stream.
  std::function<std::string(int)> body;
  // Whether request i is cancelled: its socket closes once `cancel_after_events` events arrived.
  std::function<bool(int)> cancel;
  int cancel_after_events = 2;
  std::chrono::seconds request_timeout{30};  // a request slower than this counts as hung
  std::chrono::seconds total_timeout{100};   // then every connection is closed and the run ends
};

struct LoadReport {
  int sent = 0, completed = 0, cancelled = 0;
  std::map<int, int> by_status;  // HTTP status -> responses (cancelled ones included)
  int server_errors = 0;         // 5xx
  int malformed = 0;             // a stream the strict reader refused, or without a finish_reason
  int without_done = 0;          // a finished stream that did not end in [DONE]
  int hung = 0, transport_errors = 0;
  std::vector<std::string> problems;  // the first few, for the test's message
  double seconds = 0;

  void note(const std::string& what) {
    if (problems.size() < 10) problems.push_back(what);
  }
};

namespace load_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct Runner {
  LoadPlan plan;
  LoadReport report;
  asio::io_context ioc;
  int next = 0;
  std::chrono::steady_clock::time_point end_by;

  // One request on `socket` (connecting it first when closed). False when the connection cannot
  // be reused.
  asio::awaitable<bool> one(tcp::socket& socket, beast::flat_buffer& buffer, int i) {
    error_code ec;
    if (!socket.is_open()) {
      const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(plan.port));
      co_await socket.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ++report.transport_errors;
        report.note("request " + std::to_string(i) + ": connect: " + ec.message());
        co_return false;
      }
      socket.set_option(tcp::no_delay(true), ec);
      buffer.clear();
    }
    // A request that takes too long has its socket closed under it, which ends the reads below.
    // (Its state is shared: a deadline that fires just as the response ends must not touch the
    // next request.)
    struct Deadline {
      bool armed = true, fired = false;
    };
    const auto deadline = std::make_shared<Deadline>();
    asio::steady_timer guard(ioc);
    guard.expires_at(std::min(end_by, std::chrono::steady_clock::now() + plan.request_timeout));
    guard.async_wait([deadline, &socket](error_code e) {
      if (e || !deadline->armed) return;
      deadline->fired = true;
      error_code ignored;
      socket.close(ignored);
    });

    http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = plan.body(i);
    req.prepare_payload();
    ++report.sent;
    co_await http::async_write(socket, req, asio::redirect_error(asio::use_awaitable, ec));

    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    if (!ec) co_await http::async_read_header(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    const bool cancel = plan.cancel(i);
    api::SseParser sse;
    size_t consumed = 0;
    int events = 0;
    bool finish_reason = false, cut = false, bad = false;
    std::string error_body;
    while (!ec && !parser.is_done()) {
      co_await http::async_read_some(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      const std::string& body = parser.get().body();
      if (parser.get().result_int() != 200) continue;  // read an error body whole
      try {
        sse.feed(std::string_view(body).substr(consumed));
        for (const std::string& e : sse.take_events()) {
          ++events;
          const nlohmann::json j = nlohmann::json::parse(e);
          if (!j.contains("choices") || !j["choices"].is_array()) throw std::runtime_error("no choices: " + e);
          for (const auto& c : j["choices"]) finish_reason |= !c["finish_reason"].is_null();
        }
      } catch (const std::exception& e) {
        bad = true;
        report.note("request " + std::to_string(i) + ": " + e.what());
        break;
      }
      consumed = body.size();
      if (cancel && events >= plan.cancel_after_events) {
        cut = true;
        break;
      }
    }
    deadline->armed = false;
    guard.cancel();
    const bool timed_out = deadline->fired;
    const int status = parser.is_header_done() ? static_cast<int>(parser.get().result_int()) : 0;
    if (status != 0) ++report.by_status[status];
    if (status >= 500) {
      ++report.server_errors;
      report.note("request " + std::to_string(i) + ": status " + std::to_string(status) + ": " + parser.get().body());
    }
    if (cut) {
      ++report.cancelled;
      error_code ignored;
      socket.close(ignored);
      co_return false;
    }
    if (timed_out) {
      ++report.hung;
      report.note("request " + std::to_string(i) + ": no complete response in time");
      co_return false;
    }
    if (ec || bad) {
      if (bad)
        ++report.malformed;
      else {
        ++report.transport_errors;
        report.note("request " + std::to_string(i) + ": " + ec.message());
      }
      error_code ignored;
      socket.close(ignored);
      co_return false;
    }
    if (status == 200) {
      try {
        sse.finish();
      } catch (const std::exception& e) {
        ++report.malformed;
        report.note("request " + std::to_string(i) + ": " + e.what());
      }
      if (!sse.done()) {
        ++report.without_done;
        report.note("request " + std::to_string(i) + ": no [DONE]");
      } else if (!finish_reason) {
        ++report.malformed;
        report.note("request " + std::to_string(i) + ": no chunk with a finish_reason");
      }
      if (!cancel) ++report.completed;
    }
    co_return parser.keep_alive();
  }

  asio::awaitable<void> worker() {
    tcp::socket socket(ioc);
    beast::flat_buffer buffer;
    while (next < plan.requests && std::chrono::steady_clock::now() < end_by) {
      const int i = next++;
      const bool reuse = co_await one(socket, buffer, i);
      if (!reuse && socket.is_open()) {
        error_code ignored;
        socket.close(ignored);
      }
    }
    error_code ignored;
    socket.close(ignored);
  }
};

}  // namespace load_detail

// Runs the plan to the end (or its total timeout) on the calling thread.
inline LoadReport run_load(const LoadPlan& plan) {
  load_detail::Runner r;
  r.plan = plan;
  const auto t0 = std::chrono::steady_clock::now();
  r.end_by = t0 + plan.total_timeout;
  for (int w = 0; w < plan.concurrency; ++w)
    boost::asio::co_spawn(r.ioc, r.worker(), [&r](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        ++r.report.transport_errors;
        r.report.note(std::string("worker ended: ") + ex.what());
      }
    });
  r.ioc.run();
  r.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r.report;
}

}  // namespace hayate::test
