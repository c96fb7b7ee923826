// The gateway's side of one client connection: its socket, read buffer and write deadline, the
// watch that notices a client hanging up while its request waits on an upstream, and the
// chunked event stream that passes an upstream's stream on piece by piece. Everything of one
// client runs on its worker's single-threaded io_context, so nothing here locks.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/asio.h"

namespace hayate::gateway {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Client : std::enable_shared_from_this<Client> {
  explicit Client(tcp::socket s);

  tcp::socket socket;
  boost::beast::flat_buffer buffer;
  std::string peer;   // the address without the port
  bool gone = false;  // closed or reset by the client, or cut off (too slow)
  bool watching = false, want_watch = false;
  asio::steady_timer wake;  // stop_watch() sleeps on it
  asio::steady_timer write_deadline;
  uint64_t write_serial = 0;
  std::function<void()> on_gone;  // called once when a watch or a write finds the client gone

  // Reads the socket while the request waits, so that a client who hangs up is noticed (bytes
  // that arrive, a pipelined request, stay in `buffer`).
  void start_watch();
  awaitable<> stop_watch();
  // Closes the socket when a write takes longer than `seconds` (a client that stopped reading).
  void arm_write(double seconds);
  void disarm_write();
  void mark_gone();
};

// A whole response; false when the client is gone.
awaitable<bool> respond(Client& c, int status, std::string body, const Headers& headers, bool keep_alive,
                        double write_timeout);

// An event stream to the client: the head when started, then each piece as it is pushed, written
// by its own coroutine so that the upstream's reader never waits on the client.
class StreamOut : public std::enable_shared_from_this<StreamOut> {
 public:
  StreamOut(std::shared_ptr<Client> c, int status, Headers headers, bool keep_alive, double write_timeout);
  void start();
  void push(std::string_view piece);
  void finish();  // the last chunk after what is queued
  awaitable<> join();
  size_t pending() const { return pending_; }
  bool failed() const { return failed_; }

 private:
  awaitable<> run();

  std::shared_ptr<Client> c_;
  int status_;
  Headers headers_;
  bool keep_alive_;
  double write_timeout_;
  std::deque<std::string> queue_;
  size_t pending_ = 0;
  bool finishing_ = false, exited_ = false, failed_ = false;
  asio::steady_timer wake_, exited_timer_;
};

}  // namespace hayate::gateway
