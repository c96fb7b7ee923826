// A small HTTP/1.1 server on its own thread for net's client tests. Each mode is one way servers
// behave (or misbehave) with their connections; it counts connections and requests so that a
// test can tell a reused connection from a new one and a re-sent request from a single one.
#pragma once

#include <atomic>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/asio.h"  // Asio's coroutines only through here (<utility> first, no frame recycling)
#include "net/url.h"

namespace hayate::net::test {

enum class Mode {
  KeepAlive,        // answers every request and keeps the connection
  CloseAfterEach,   // answers, then closes without saying so (no "Connection: close")
  DropSecond,       // answers the first request of a connection; reads the second and closes unanswered
  CutSecond,        // answers the first request; sends half of the second's body and closes
  HalfHeadSecond,   // answers the first request; sends part of the second's status line and closes
  CloseUnanswered,  // reads each request and closes without a byte of answer
  Silent,           // reads the request and never answers
  Chunked,          // a chunked body in three pieces, 30 ms apart
  SayClose,         // answers with "Connection: close" and closes
  Unasked408,       // answers, then 50 ms later sends a 408 nobody asked for and closes
};

class TestServer {
 public:
  explicit TestServer(Mode mode) : mode_(mode), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  Endpoint endpoint() const { return resolve(parse_url("http://127.0.0.1:" + std::to_string(port()))); }

  std::atomic<int> connections{0}, requests{0};

  // Each request as it arrived (head and body).
  std::vector<std::string> received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

  // The body of the answer to the n-th request the server read (from 1).
  static std::string answer(int n) { return "answer " + std::to_string(n); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++connections;
      asio::co_spawn(ioc_, serve(std::move(s)), asio::detached);
    }
  }

  static std::string response(const std::string& body, const std::string& extra = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           extra + "\r\n" + body;
  }

  asio::awaitable<void> serve(tcp::socket s) {
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    std::string in;
    for (int on_this = 1;; ++on_this) {
      const size_t head = co_await asio::async_read_until(s, asio::dynamic_buffer(in), "\r\n\r\n", token);
      if (ec) co_return;
      size_t body = 0;
      if (const size_t at = in.find("Content-Length: "); at != std::string::npos && at < head)
        body = std::stoul(in.substr(at + 16));
      if (in.size() < head + body)
        co_await asio::async_read(s, asio::dynamic_buffer(in), asio::transfer_exactly(head + body - in.size()), token);
      if (ec) co_return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        received_.push_back(in.substr(0, head + body));
      }
      in.erase(0, head + body);
      const int n = ++requests;
      const bool first = on_this == 1;
      std::string out = response(answer(n));
      if (mode_ == Mode::CloseUnanswered || (mode_ == Mode::DropSecond && !first)) co_return;
      if (mode_ == Mode::Silent) {
        asio::steady_timer forever(ioc_, std::chrono::hours(1));
        co_await forever.async_wait(token);
        co_return;
      }
      if (mode_ == Mode::HalfHeadSecond && !first) {
        out = "HTTP/1.1 2";
      } else if (mode_ == Mode::CutSecond && !first) {
        out = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(50, 'x');
      } else if (mode_ == Mode::SayClose) {
        out = response(answer(n), "Connection: close\r\n");
      } else if (mode_ == Mode::Chunked) {
        co_await asio::async_write(
            s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")), token);
        for (const char* piece : {"one,", "two,", "three"}) {
          asio::steady_timer gap(ioc_, std::chrono::milliseconds(30));
          co_await gap.async_wait(token);
          const std::string chunk = std::to_string(std::strlen(piece)) + "\r\n" + piece + "\r\n";  // < 10 bytes
          co_await asio::async_write(s, asio::buffer(chunk), token);
        }
        out = "0\r\n\r\n";
      }
      co_await asio::async_write(s, asio::buffer(out), token);
      if (ec) co_return;
      if (mode_ == Mode::Unasked408) {
        asio::steady_timer idle(ioc_, std::chrono::milliseconds(50));
        co_await idle.async_wait(token);
        const std::string timeout = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(timeout), token);
        co_return;
      }
      const bool keep = mode_ == Mode::KeepAlive || mode_ == Mode::Chunked ||
                        (first && mode_ != Mode::CloseAfterEach && mode_ != Mode::SayClose);
      if (!keep) co_return;  // the socket closes as the coroutine ends
    }
  }

  Mode mode_;
  mutable std::mutex mu_;
  std::vector<std::string> received_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace hayate::net::test
