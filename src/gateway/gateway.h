// `hayate gateway`: an OpenAI-compatible front door for a pool of upstream servers
// (docs/gateway.md). Threads: `http_threads` workers, each with its own single-threaded
// io_context, its clients and its pool of kept-alive upstream connections (so nothing of one
// request is ever touched by two threads); the first worker also accepts, runs the health checks
// and handles the signals. SIGHUP reloads the configuration file: new requests take the new
// routing, requests in flight (streams too) finish on the old one. SIGTERM or SIGINT stops
// accepting, lets requests finish for up to drain_timeout seconds and returns 0.
#pragma once

#include <string>

#include "gateway/config.h"

namespace hayate::gateway {

// Runs until a signal; Error when the address cannot be bound or an upstream does not resolve.
int run_gateway(const GatewayConfig& config, const std::string& config_path);

}  // namespace hayate::gateway
