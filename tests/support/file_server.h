// A static file server on its own thread for the model store's tests (hayate pull): files from
// memory with an ETag, Range and If-Range, redirects, 404 for anything else, and on demand a
// body cut off halfway (the connection closed) for the next few answers. It records each
// request's head so a test can see the Range and Authorization a client sent.
#pragma once

#include <atomic>
#include <boost/asio/read_until.hpp>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/asio.h"  // Asio's coroutines only through here (<utility> first, no frame recycling)

namespace hayate::test {

class FileServer {
 public:
  FileServer() : acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FileServer() {
    ioc_.stop();
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }

  void put(const std::string& path, std::string body, std::string etag = "v1") {
    std::lock_guard<std::mutex> lock(mu_);
    files_[path] = {std::move(body), std::move(etag)};
  }
  void redirect(const std::string& path, const std::string& location) {
    std::lock_guard<std::mutex> lock(mu_);
    redirects_[path] = location;
  }
  // The next n answers with a body of more than one byte send half of it and close; after them,
  // the next empty_next such answers send their head alone and close.
  std::atomic<int> cut_next{0}, empty_next{0};

  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }
  void clear_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    heads_.clear();
  }

 private:
  struct File {
    std::string body, etag;
  };

  static std::string header(const std::string& head, const std::string& name) {
    const size_t at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    const size_t from = at + name.size() + 4;
    return head.substr(from, head.find("\r\n", from) - from);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(ioc_, serve(std::move(s)), asio::detached);
    }
  }

  // The answer to one request head, and how many of its bytes to send before closing (npos: all).
  std::pair<std::string, size_t> answer(const std::string& head) {
    std::lock_guard<std::mutex> lock(mu_);
    heads_.push_back(head);
    const size_t sp = head.find(' ');
    const std::string path = head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
    if (auto r = redirects_.find(path); r != redirects_.end())
      return {"HTTP/1.1 302 Found\r\nLocation: " + r->second + "\r\nContent-Length: 0\r\n\r\n", std::string::npos};
    auto f = files_.find(path);
    if (f == files_.end()) return {"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", std::string::npos};
    const std::string& body = f->second.body;
    const std::string etag = "\"" + f->second.etag + "\"";
    uint64_t a = 0, b = body.empty() ? 0 : body.size() - 1;
    const std::string range = header(head, "Range"), if_range = header(head, "If-Range");
    bool partial = !range.empty() && (if_range.empty() || if_range == etag);
    if (partial) {
      unsigned long long ra = 0, rb = 0;
      const int n = std::sscanf(range.c_str(), "bytes=%llu-%llu", &ra, &rb);
      if (n < 1 || ra >= body.size())
        return {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" + std::to_string(body.size()) +
                    "\r\nContent-Length: 0\r\n\r\n",
                std::string::npos};
      a = ra;
      if (n == 2 && rb < b) b = rb;
    }
    const std::string piece = body.empty() ? "" : body.substr(a, b - a + 1);
    std::string out = partial ? "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(a) + "-" +
                                    std::to_string(b) + "/" + std::to_string(body.size()) + "\r\n"
                              : "HTTP/1.1 200 OK\r\n";
    out += "Accept-Ranges: bytes\r\nETag: " + etag + "\r\nContent-Length: " + std::to_string(piece.size()) + "\r\n\r\n";
    const size_t head_size = out.size();
    out += piece;
    if (piece.size() > 1 && cut_next > 0) {
      --cut_next;
      return {out, head_size + piece.size() / 2};
    }
    if (piece.size() > 1 && empty_next > 0) {
      --empty_next;
      return {out, head_size};
    }
    return {out, std::string::npos};
  }

  asio::awaitable<void> serve(tcp::socket s) {
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    std::string in;
    for (;;) {
      const size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(in), "\r\n\r\n", token);
      if (ec) co_return;
      const std::string head = in.substr(0, n);
      in.erase(0, n);
      const auto [out, cut] = answer(head);
      co_await asio::async_write(s, asio::buffer(out.data(), std::min(cut, out.size())), token);
      if (ec || cut != std::string::npos) co_return;  // closing the socket cuts the body
    }
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, File> files_;
  std::map<std::string, std::string> redirects_;
  std::vector<std::string> heads_;
};

}  // namespace hayate::test
