// The page's benchmark (issue 16): a small `hayate bench serve` sweep against this server, run as a
// child process of the same binary, then `hayate report --html` over its results. Bounded: one
// run at a time, at most 4 concurrency levels of at most 8 streams, 64 requests and 128 tokens
// each, killed after 5 minutes.
#pragma once

#include <string>

#include "net/asio.h"

namespace hayate::server {

class Exchange;
class ServerState;

// The URL the benchmark sends its requests to: this server (http_server.cpp, once bound).
void set_bench_target(const std::string& url);

awaitable<> handle_bench_runs(Exchange& ex, ServerState& state);    // POST starts one, GET says how it goes
awaitable<> handle_bench_report(Exchange& ex, ServerState& state);  // the last run's HTML report

}  // namespace hayate::server
