// The configuration of `hayate serve`: one struct, and one table of its fields that drives all
// three sources (a TOML file, HAYATE_* environment variables, command-line flags), the help texts
// and --print-config. Later sources win: file < environment < flags.
//
// A field named `max_body_bytes` is the TOML key `max_body_bytes`, the variable
// HAYATE_MAX_BODY_BYTES and the flag --max-body-bytes. List fields are TOML arrays of strings and
// comma-separated in the environment and on the command line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/engine.h"

namespace hayate::server {

// One row of the models table (`[[models]]` in the TOML file): a model the server may load on
// demand. Fields left out take the server-wide setting.
struct ModelSpec {
  std::string name;                  // the id requests name; empty (the -m row): the file's stem or model_alias
  std::string file;                  // GGUF path; empty: the embedded default model
  std::string device;                // empty: the server's device
  int64_t ctx_size = -1;             // < 0: the server's ctx_size
  bool keep_loaded = false;          // loaded at start, never evicted nor unloaded when idle
  std::string keep_alive;            // as the server's keep_alive; empty: the server's
  std::vector<std::string> aliases;  // more ids that name this model
};

struct ServerConfig {
  // Listening
  std::string host = "127.0.0.1";
  int64_t port = 8080;  // 0: any free port (the bound one is logged as "listening on HOST:PORT")
  int64_t http_threads = 2;
  std::string tls_cert;  // PEM certificate chain; with tls_key: HTTPS only (SIGHUP reloads both)
  std::string tls_key;   // PEM private key of tls_cert
  // Model and engine
  std::string model;        // empty: the embedded default (random weights)
  std::string model_alias;  // the id in /v1/models; empty: the file's name without .gguf
  std::string mmproj;       // LLaVA's vision tower + projector GGUF; empty: the model takes no images
  std::string backend = "cpu";
  std::string device = "auto";  // auto | cpu | cuda
  double gpu_memory_fraction = 0.9;
  bool cuda_graphs = true;          // issue 12, stage 4: on by default
  std::string gpu_layers = "auto";  // auto | 0..n_layer: the first N layers on the GPU, the rest on the CPU
  int64_t tensor_parallel = 1;      // GPUs the model is split over (DeviceOptions::tensor_parallel)
  int64_t threads = 0;
  int64_t ctx_size = EngineConfig{}.n_ctx;
  int64_t max_running = EngineConfig{}.max_running;
  int64_t max_waiting = EngineConfig{}.max_waiting;
  int64_t max_batch_tokens = EngineConfig{}.max_batch_tokens;
  int64_t kv_blocks = EngineConfig{}.kv_blocks;
  bool prefix_caching = EngineConfig{}.prefix_caching;
  // Several models (issue 20): the models table, and when loaded ones are unloaded.
  std::vector<ModelSpec> models;     // TOML [[models]] only; empty: one row from model/model_alias
  int64_t max_loaded_models = 0;     // 0: no cap (OLLAMA_MAX_LOADED_MODELS)
  int64_t model_memory_budget = 0;   // bytes of weights + KV cache loaded at once; 0: no budget
  std::string keep_alive = "-1";     // idle time before an unload: "5m", "90s", 0 at once, negative never
  double model_queue_timeout = 120;  // seconds a request waits for its model to load
  // Access
  std::vector<std::string> api_keys;
  bool no_auth = false;
  int64_t rate_limit_rpm = 0;  // per key; 0: no limit
  int64_t rate_limit_burst = 10;
  std::vector<std::string> cors_origins;
  // Limits
  int64_t max_body_bytes = 1 << 20;
  int64_t max_prompt_tokens = 0;  // 0: the context size
  int64_t max_tokens_cap = 0;     // 0: the context size
  int64_t max_n = 16;
  double request_timeout = 600;  // seconds; 0: none
  double idle_timeout = 60;      // seconds a connection may wait, silent, for its next request
  // Hostile clients (issue 22): each limit answers or closes, and counts in hayate_limit_hits_total.
  int64_t max_header_bytes = 32 * 1024;  // the request line and headers together; more: 431
  int64_t max_header_count = 100;        // more header fields: 431
  double header_timeout = 10;            // seconds from a request's first byte to the end of its head: 408
  double body_timeout = 60;              // seconds to receive a body once its head is in: 408
  int64_t max_connections = 1024;        // open at once; more are answered 503 and closed
  int64_t max_connections_per_ip = 128;  // open at once from one address; more: 429 and closed
  double drain_timeout = 30;             // seconds
  int64_t send_buffer_bytes = 0;         // SO_SNDBUF of each connection; 0: the system's (autotuned)
  double write_timeout = 30;  // seconds one write to a client may take (a client that stops reading); 0: none
  double engine_stall_timeout = EngineConfig{}.stall_seconds;  // /health: 503 when the engine loop is stuck this long
  int64_t debug_step_delay_ms = 0;                             // tests: sleep this long in every engine step
  // Output
  bool gzip = true;
  int64_t slow_request_ms = 10000;
  std::string log_level = "info";
  std::string log_file;                // empty: stderr
  int64_t log_max_bytes = 64ll << 20;  // the log file is rotated past this size
  int64_t log_files = 5;               // rotated files kept (FILE.1.log ... FILE.N.log)
  // Compression (/v1/compress, /v1/decompress, /v1/compress/batch); the defaults are the seed's.
  int64_t compress_rate_limit_rpm = 120;  // per key, on the compression routes; 0: no limit
  int64_t compress_rate_limit_burst = 20;
  int64_t compress_cache_entries = 1024;
  double compress_cache_ttl = 3600;     // seconds
  std::string compress_preload;         // texts compressed into the cache at start (JSON array)
  std::string compress_fallback_model;  // a lower-bit GGUF of the model: the chain's step before zstd
  int64_t compress_retries = 2;         // more attempts per step for transient errors
  double compress_slow_ms = 2000;       // log compression requests slower than this
  double compress_price_per_1k_tokens = 0.002;
  double compress_quality_alert = 0.85;                // semantic results under this cosine are flagged
  int64_t compress_sequences = 16;                     // windows decoded side by side
  std::vector<std::string> compress_debug_fail_steps;  // tests: steps of the chain that fail on purpose
  // Caches (issue 15): the exact response cache of deterministic requests.
  std::string cache = "off";  // off | memory | redis://HOST:PORT[/DB]
  int64_t cache_entries = 1000;
  int64_t cache_max_bytes = 256ll << 20;
  double cache_ttl = 3600;  // seconds; 0: no expiry
  bool cache_compress = true;
  std::string cache_persist;  // memory store: the file it is loaded from at start and saved to at exit
  // The retrieval caches (rag_cache.h): query embeddings and searches.
  std::string rag_cache = "memory";  // off | memory | redis://HOST:PORT[/DB]
  int64_t embedding_cache_entries = 1000;
  int64_t search_cache_entries = 500;
  double rag_cache_ttl = 3600;  // seconds; 0: no expiry
  // The semantic cache of RAG chat answers (semantic_cache.h): off at 0.
  double semantic_cache_threshold = 0;
  int64_t semantic_cache_entries = 1000;
  // Retrieval (issue 15): /v1/collections.
  std::string collections_dir;  // empty: no collections (unless rag_store)
  std::string rag_store;        // postgresql:// URL of shared collections; empty: SQLite in collections_dir
  int64_t rag_chunk_tokens = 256;
  int64_t rag_chunk_overlap = 32;
  // Web chat (issue 16): the page at /, chat over /v1/ws, conversations kept server-side.
  std::string conversations_db;            // SQLite file, redis:// or postgresql:// URL (shared store); empty: memory
  int64_t conversation_max_messages = 40;  // most messages of a conversation sent to the model; older dropped
  double chat_default_temperature = -1;    // WebSocket chats that give none; < 0: the API's default
  int64_t chat_default_max_tokens = 0;     // WebSocket chats that give none; 0: up to the context
  int64_t ws_max_message_bytes = 1 << 20;  // a bigger WebSocket message closes the socket (1009)
  std::string gpu_metrics_library = "libnvidia-ml.so.1";  // NVML for the GPU figures of /metrics; empty: none
  // Images (issue 19): image_url parts of chat messages (docs/vision.md).
  int64_t image_max_bytes = 20ll << 20;  // one image, encoded
  int64_t image_max_pixels = 40'000'000;
  double image_max_decode_seconds = 5;
  int64_t image_max_per_request = 16;
  bool image_url_fetch = false;  // http URLs in image_url parts (off: only data: URLs)
  double image_fetch_timeout = 10;
  int64_t image_decode_threads = 2;
  // Tasks and data (issue 18): the micro-batcher of non-streamed tasks and embeddings (0: off), and
  // the limits of /v1/data/process.
  int64_t micro_batch_max = 8;            // engine requests handed over together at most
  double micro_batch_wait_ms = 100;       // how long the first request of a batch waits for others
  int64_t data_max_records = 10000;       // records in one /v1/data/process request
  int64_t data_max_fields = 256;          // distinct field names over its records
  int64_t data_max_body_bytes = 1 << 20;  // its body (the server's max_body_bytes applies first)
};

using FieldRef = std::variant<std::string ServerConfig::*, int64_t ServerConfig::*, double ServerConfig::*,
                              bool ServerConfig::*, std::vector<std::string> ServerConfig::*>;

struct ConfigField {
  std::string_view name;        // TOML key; the flag and variable names derive from it
  std::string_view short_flag;  // e.g. "-m", or empty
  FieldRef ref;
  std::string_view help;
  double min = 0, max = 0;                  // numbers: the allowed range (min == max: any)
  std::vector<std::string_view> choices{};  // strings: the allowed values (empty: any)
  bool secret = false;                      // not printed by --print-config

  std::string flag() const;     // --max-body-bytes
  std::string env_var() const;  // HAYATE_MAX_BODY_BYTES
};

const std::vector<ConfigField>& config_fields();

// The field's value as TOML text ("8080", "\"cpu\"", "[\"a\", \"b\"]", "true").
std::string toml_value(const ConfigField& field, const ServerConfig& config);
// Sets a field from text (an environment variable or a flag). Error(BadInput) naming `source`
// and the expected form when the text does not parse or is out of range.
void set_from_text(const ConfigField& field, ServerConfig& config, std::string_view text, std::string_view source);

// Error(NotFound) when the file is missing, Error(BadInput) naming the line for a syntax error,
// an unknown key or a value of the wrong type.
void apply_toml_file(ServerConfig& config, const std::string& path);
// The same for TOML text; `name` stands for the file in messages.
void apply_toml_text(ServerConfig& config, std::string_view text, const std::string& name);
// Reads HAYATE_<FIELD> for every field that is set in the environment.
void apply_environment(ServerConfig& config);
// The whole configuration as a TOML document (secrets replaced by a comment saying how many).
std::string to_toml(const ServerConfig& config);

// Checks what no single field can: the authentication policy. Without API keys and without
// no_auth, the server refuses to start unless it binds to a loopback address, where only this
// machine can reach it. Error(BadInput) saying what to set.
void validate(const ServerConfig& config);
bool is_loopback_host(const std::string& host);
// The models table as served: config.models, or the one row that model and model_alias make.
std::vector<ModelSpec> served_models(const ServerConfig& config);
// keep_alive text ("5m", "-1", "0") in seconds (negative: forever); Error(BadInput) naming `what`.
double keep_alive_seconds(const std::string& text, const std::string& what);

}  // namespace hayate::server
