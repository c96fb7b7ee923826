// `hayate serve`: an OpenAI-compatible HTTP/1.1 server on Boost.Asio with C++20 coroutines.
//
// Threads: `http_threads` run the io_context (every connection is a coroutine on its own strand,
// so its handlers never run concurrently), the engine runs its loop on its own thread, and one
// thread loads the model at start (the server answers /health with 503 until it is ready).
// SIGTERM or SIGINT stops accepting, closes idle connections, lets running requests finish for
// up to drain_timeout seconds, cancels what is left, and returns 0. A second signal stops at once.
#pragma once

#include <functional>

#include "server/config.h"
#include "server/service.h"

namespace hayate::server {

// Runs until a signal (exit code 0) or a failure to load the model (its error's exit code).
// Error when the address cannot be bound. `load` runs on a thread of its own.
int run_server(const ServerConfig& config, const std::function<LoadedModel()>& load);

}  // namespace hayate::server
