// The configuration of `hayate gateway`: a TOML file (gateway.toml) with the listening address,
// the policies (retries, ejection, affinity, limits, cache) and three tables of arrays: the
// upstreams ([[upstreams]]: a URL serving one model), the models ([[models]]: aliases and a
// fallback chain) and the API keys ([[keys]]: each with its own rate limit and token quota).
// docs/gateway.md describes every key; deploy/gateway.toml is an example.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::gateway {

struct UpstreamConfig {
  std::string name;            // for metrics and logs; default: the URL's host:port
  std::string url;             // http(s)://HOST:PORT[/BASE] of an OpenAI-compatible server
  std::string model;           // the model (a [[models]] name, or any name) this upstream serves
  std::string upstream_model;  // the name the upstream knows it by (the request's "model" is rewritten); empty: keep
  std::string api_key;         // sent upstream as "Authorization: Bearer KEY"; empty: none
};

struct ModelConfig {
  std::string name;
  std::vector<std::string> aliases;   // other names clients may ask for
  std::vector<std::string> fallback;  // models tried in this order when every replica of this one failed
};

struct KeyConfig {
  std::string key;               // 8+ characters, sent as "Authorization: Bearer KEY"
  std::string name;              // for metrics and logs (never the key); default: "key1", "key2", ...
  int64_t rate_limit_rpm = 0;    // requests per minute (0: the gateway's rate_limit_rpm)
  int64_t rate_limit_burst = 0;  // 0: the gateway's rate_limit_burst
  int64_t token_quota = 0;       // prompt + completion tokens per quota_window (0: none)
  double quota_window = 86400;   // seconds
};

struct GatewayConfig {
  // Listening
  std::string host = "127.0.0.1";
  int64_t port = 8090;  // 0: any free port, printed as "listening on HOST:PORT"
  int64_t http_threads = 2;
  bool no_auth = false;  // serve without keys on a non-loopback address
  // Timeouts (seconds)
  double request_timeout = 600;  // a request's whole deadline, retries included (X-Request-Timeout may shorten it)
  double read_timeout = 30;      // to send a whole request, idle keep-alive time included (slow clients)
  double write_timeout = 30;     // one write to a client that stops reading
  double drain_timeout = 30;     // after SIGTERM, how long requests in flight may take to finish
  // Limits
  int64_t max_body_bytes = 8 << 20;       // request bodies; more is answered 413
  int64_t max_response_bytes = 64 << 20;  // non-streamed upstream bodies; more is a failure of that upstream
  int64_t max_buffered_bytes = 4 << 20;   // stream bytes a slow client may leave unread before it is cut off
  // Retries and health
  int64_t retries = 2;        // more attempts per model after a failure before the first byte
  double retry_base_ms = 25;  // backoff before retry k: base * 2^(k-1), at most retry_max_ms, times 0.5..1
  double retry_max_ms = 1000;
  double health_interval = 2;  // seconds between GET /health of each upstream (0: no health checks)
  double health_timeout = 2;
  int64_t eject_failures = 3;  // consecutive failures that open an upstream's circuit (eject it)
  double eject_seconds = 5;    // first ejection; doubles while it keeps failing, up to eject_max_seconds
  double eject_max_seconds = 60;
  // Prefix affinity: prompts are hashed at every affinity_block_bytes; a request goes to the
  // replica that served its longest known prefix, unless that one has affinity_slack more requests
  // in flight than the least busy.
  int64_t affinity_block_bytes = 256;  // 0: no affinity
  int64_t affinity_entries = 65536;
  int64_t affinity_slack = 8;
  // Access
  std::vector<KeyConfig> keys;
  int64_t rate_limit_rpm = 0;  // per key (or per client address without keys); 0: none
  int64_t rate_limit_burst = 10;
  std::vector<std::string> cors_origins;
  // Response cache (non-streamed, temperature 0): entries and per-kind time to live in seconds
  int64_t cache_entries = 0;           // 0: no cache
  std::string cache_store = "memory";  // or "redis://HOST:PORT[/DB]", shared by several gateways
  double cache_ttl_completions = 300;
  double cache_ttl_embeddings = 3600;
  std::string log_level = "info";
  // Routing
  std::vector<UpstreamConfig> upstreams;
  std::vector<ModelConfig> models;
};

// Parses and checks a gateway.toml text; `source` names it in messages ("gateway.toml:12: ...").
// Error(BadInput) for a syntax error, an unknown key, a value of the wrong type or range, a bad
// URL, a duplicate name or alias, a fallback to an unknown model, or a key shorter than 8.
GatewayConfig parse_gateway_config(std::string_view text, const std::string& source);
// Error(NotFound) when the file is missing; then as parse_gateway_config.
GatewayConfig load_gateway_config(const std::string& path);

// The model a name means: itself, or the model whose alias it is; "" when unknown.
std::string resolve_model(const GatewayConfig& config, const std::string& name);

}  // namespace hayate::gateway
