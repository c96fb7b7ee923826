#include "gateway/client.h"

#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace hayate::gateway {

namespace http = boost::beast::http;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kWatchBufferLimit = 64 * 1024;

template <typename Message>
void set_headers(Message& m, const Headers& headers, bool keep_alive) {
  m.set(http::field::server, "hayate-gateway");
  for (const auto& [name, value] : headers) m.set(name, value);
  m.keep_alive(keep_alive);
}
}  // namespace

Client::Client(tcp::socket s)
    : socket(std::move(s)), wake(socket.get_executor()), write_deadline(socket.get_executor()) {}

void Client::mark_gone() {
  if (gone) return;
  gone = true;
  if (on_gone) on_gone();
}

void Client::start_watch() {
  want_watch = true;
  if (watching || gone || buffer.size() >= kWatchBufferLimit) return;
  watching = true;
  socket.async_read_some(buffer.prepare(4096), [self = shared_from_this()](error_code ec, size_t n) {
    self->watching = false;
    self->buffer.commit(n);
    if (ec && ec != asio::error::operation_aborted) self->mark_gone();
    if (!ec && self->want_watch)
      self->start_watch();
    else
      self->wake.cancel();
  });
}

awaitable<> Client::stop_watch() {
  want_watch = false;
  if (!watching) co_return;
  error_code ec;
  socket.cancel(ec);
  while (watching) {
    wake.expires_at(Clock::time_point::max());
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Client::arm_write(double seconds) {
  const uint64_t serial = ++write_serial;
  write_deadline.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
  write_deadline.async_wait([self = shared_from_this(), serial](error_code e) {
    if (e || self->write_serial != serial) return;
    error_code ignored;
    self->socket.close(ignored);
    self->mark_gone();
  });
}

void Client::disarm_write() {
  ++write_serial;
  write_deadline.cancel();
}

awaitable<bool> respond(Client& c, int status, std::string body, const Headers& headers, bool keep_alive,
                        double write_timeout) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  set_headers(res, headers, keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  error_code ec;
  c.arm_write(write_timeout);
  co_await http::async_write(c.socket, res, asio::redirect_error(asio::use_awaitable, ec));
  c.disarm_write();
  if (ec) c.mark_gone();
  co_return !c.gone;
}

StreamOut::StreamOut(std::shared_ptr<Client> c, int status, Headers headers, bool keep_alive, double write_timeout)
    : c_(std::move(c)),
      status_(status),
      headers_(std::move(headers)),
      keep_alive_(keep_alive),
      write_timeout_(write_timeout),
      wake_(c_->socket.get_executor()),
      exited_timer_(c_->socket.get_executor()) {}

void StreamOut::start() {
  asio::co_spawn(
      c_->socket.get_executor(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void StreamOut::push(std::string_view piece) {
  if (failed_ || piece.empty()) return;
  queue_.emplace_back(piece);
  pending_ += piece.size();
  wake_.cancel();
}

void StreamOut::finish() {
  finishing_ = true;
  wake_.cancel();
}

awaitable<> StreamOut::join() {
  error_code ec;
  while (!exited_) {
    exited_timer_.expires_at(Clock::time_point::max());
    co_await exited_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

awaitable<> StreamOut::run() {
  Client& c = *c_;
  error_code ec;
  http::response<http::empty_body> head{static_cast<http::status>(status_), 11};
  set_headers(head, headers_, keep_alive_);
  head.chunked(true);
  http::response_serializer<http::empty_body> sr{head};
  c.arm_write(write_timeout_);
  co_await http::async_write_header(c.socket, sr, asio::redirect_error(asio::use_awaitable, ec));
  c.disarm_write();
  while (!ec) {
    if (!queue_.empty()) {
      const std::string piece = std::move(queue_.front());
      queue_.pop_front();
      pending_ -= piece.size();
      c.arm_write(write_timeout_);
      co_await asio::async_write(c.socket, http::make_chunk(asio::buffer(piece)),
                                 asio::redirect_error(asio::use_awaitable, ec));
      c.disarm_write();
      continue;
    }
    if (finishing_) {
      c.arm_write(write_timeout_);
      co_await asio::async_write(c.socket, http::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
      c.disarm_write();
      break;
    }
    wake_.expires_at(Clock::time_point::max());
    error_code woke;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, woke));
  }
  if (ec) {
    failed_ = true;
    queue_.clear();
    pending_ = 0;
    c.mark_gone();
  }
  exited_ = true;
  exited_timer_.cancel();
}

}  // namespace hayate::gateway
