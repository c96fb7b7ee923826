// `hayate serve`: an OpenAI-compatible HTTP/1.1 server on Boost.Asio with C++20 coroutines.
//
// Threads: `http_threads` run the io_context (every connection is a coroutine on its own strand,
// so its handlers never run concurrently), each loaded model's engine runs its loop on its own
// thread, and one thread loads and unloads models (model_registry.h; the server answers /health
// with 503 until the keep_loaded ones are ready).
// SIGTERM or SIGINT stops accepting, closes idle connections, lets running requests finish for
// up to drain_timeout seconds, cancels what is left, and returns 0. A second signal stops at once.
#pragma once

#include <functional>

#include "server/config.h"
#include "server/service.h"

namespace hayate::server {

// Runs until a signal (exit code 0) or a failure to load a keep_loaded model (its error's exit
// code). Error when the address cannot be bound. `load` loads the model of a config (its model,
// device and ctx_size set from a row of the models table), on the registry's loader thread.
int run_server(const ServerConfig& config, const std::function<LoadedModel(const ServerConfig&)>& load);

}  // namespace hayate::server
