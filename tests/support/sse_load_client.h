// A load client for server tests: many concurrent streaming requests from one thread, on net's
// coroutine HTTP client (one io_context, one coroutine per connection, no thread per request). Each response is read as
// it arrives and checked by the strict SSE reader; some requests are cancelled midway by closing the socket after their
// first chunks.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/openai.h"
#include "core/error.h"
#include "net/http_client.h"

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

struct Runner {
  LoadPlan plan;
  LoadReport report;
  asio::io_context ioc;
  int next = 0;
  std::chrono::steady_clock::time_point end_by;

  // One request on `conn` (which opens itself when closed, and closes when the request does not
  // end cleanly). A kept-alive connection the server closed early is a transport error here, not
  // a request to send again: the load test is about the server.
  asio::awaitable<void> one(net::Connection& conn, int i) {
    const bool cancel = plan.cancel(i);
    int status = 0, events = 0;
    bool finish_reason = false, cut = false, bad = false;
    api::SseParser sse;
    std::string error_body;
    net::ResponseHandlers h;
    h.on_head = [&](const net::Response& head) { status = head.status; };
    h.on_body = [&](std::string_view piece) {
      if (status != 200) {  // read an error body whole
        error_body.append(piece);
        return true;
      }
      try {
        sse.feed(piece);
        for (const std::string& e : sse.take_events()) {
          ++events;
          const nlohmann::json j = nlohmann::json::parse(e);
          if (!j.contains("choices") || !j["choices"].is_array()) throw std::runtime_error("no choices: " + e);
          for (const auto& c : j["choices"]) finish_reason |= !c["finish_reason"].is_null();
        }
      } catch (const std::exception& e) {
        bad = true;
        report.note("request " + std::to_string(i) + ": " + e.what());
        return false;
      }
      cut = cancel && events >= plan.cancel_after_events;  // the connection closes under the stream
      return !cut;
    };
    ++report.sent;
    const auto deadline = std::min(end_by, std::chrono::steady_clock::now() + plan.request_timeout);
    net::Request req("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}}, plan.body(i));
    const net::Response res = co_await conn.request(std::move(req), deadline, std::move(h));

    if (status != 0) ++report.by_status[status];
    if (status >= 500) {
      ++report.server_errors;
      report.note("request " + std::to_string(i) + ": status " + std::to_string(status) + ": " + error_body);
    }
    if (cut) {
      ++report.cancelled;
      co_return;
    }
    if (res.failure == net::Failure::Timeout) {
      ++report.hung;
      report.note("request " + std::to_string(i) + ": no complete response in time");
      co_return;
    }
    if (bad) {
      ++report.malformed;
      co_return;
    }
    if (!res.ok()) {
      ++report.transport_errors;
      report.note("request " + std::to_string(i) + ": " + res.error);
      co_return;
    }
    if (status != 200) co_return;
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

  asio::awaitable<void> worker(net::Endpoint endpoint) {
    net::ConnectionOptions options;
    options.reopen_stale = false;
    net::Connection conn(ioc.get_executor(), std::move(endpoint), options);
    while (next < plan.requests && std::chrono::steady_clock::now() < end_by) co_await one(conn, next++);
    conn.close();
  }
};

}  // namespace load_detail

// Runs the plan to the end (or its total timeout) on the calling thread.
inline LoadReport run_load(const LoadPlan& plan) {
  load_detail::Runner r;
  r.plan = plan;
  const net::Endpoint endpoint = net::resolve(net::parse_url("http://127.0.0.1:" + std::to_string(plan.port)));
  const auto t0 = std::chrono::steady_clock::now();
  r.end_by = t0 + plan.total_timeout;
  for (int w = 0; w < plan.concurrency; ++w)
    asio::co_spawn(r.ioc, r.worker(endpoint), [&r](std::exception_ptr e) {
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
