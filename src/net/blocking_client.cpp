#include "net/blocking_client.h"

#include <exception>

#include "core/error.h"

namespace hayate::net {

// The exchange in flight (or the last one): what its handlers and its end have delivered.
struct Client::Exchange {
  std::string path;  // for messages
  bool head = false, finished = false;
  Response response;    // the head once it is in; the whole result once finished
  std::string pending;  // streamed body not yet returned by next()
  std::exception_ptr error;
};

Client::Client(Endpoint endpoint, ClientOptions options)
    : conn_(ioc_.get_executor(), std::move(endpoint), options.connection), options_(options) {}

// A coroutine still suspended in the io_context refers to conn_: end it before either goes.
Client::~Client() { abandon(); }

void Client::abandon() {
  if (!exchange_ || exchange_->finished) return;
  conn_.close();
  run_until([&] { return exchange_->finished; });
}

template <typename Ready>
void Client::run_until(const Ready& ready) {
  while (!ready())
    if (ioc_.run_one() == 0) break;  // nothing left to run: the exchange has ended
}

Client::Exchange& Client::begin(Request req, bool streamed) {
  abandon();
  exchange_ = std::make_unique<Exchange>();
  Exchange* x = exchange_.get();
  x->path = req.path;
  ResponseHandlers h;
  if (streamed) {
    h.on_head = [x](const Response& head) {
      x->response = head;
      x->head = true;
    };
    h.on_body = [x](std::string_view piece) {
      x->pending.append(piece);
      return true;
    };
  }
  ioc_.restart();
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  asio::co_spawn(ioc_, conn_.request(std::move(req), deadline, std::move(h)), [x](std::exception_ptr e, Response r) {
    x->finished = true;
    x->error = e;
    if (!e) x->response = std::move(r);
  });
  return *x;
}

void Client::throw_if_failed() const {
  if (exchange_->error) std::rethrow_exception(exchange_->error);
  const Response& r = exchange_->response;
  if (!exchange_->finished || r.ok()) return;
  fail(r.failure == Failure::Protocol ? ErrorKind::BadInput : ErrorKind::NotFound,
       endpoint().url.at(exchange_->path) + ": " + r.error);
}

Response Client::request(Request req) {
  Exchange& x = begin(std::move(req), false);
  run_until([&] { return x.finished; });
  throw_if_failed();
  return std::move(x.response);
}

Response Client::start(Request req) {
  Exchange& x = begin(std::move(req), true);
  run_until([&] { return x.head || x.finished; });
  throw_if_failed();
  return x.response;
}

std::string Client::next() {
  if (!exchange_) return "";
  Exchange& x = *exchange_;
  run_until([&] { return !x.pending.empty() || x.finished; });
  std::string out = std::move(x.pending);
  x.pending.clear();
  if (out.empty()) throw_if_failed();
  return out;
}

bool Client::done() const { return !exchange_ || (exchange_->finished && exchange_->pending.empty()); }

void Client::close() {
  abandon();
  conn_.close();
}

}  // namespace hayate::net
