#include "server/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "backend/registry.h"
#include "cache/store.h"
#include "core/error.h"
#include "server/config_models.h"

namespace hayate::server {
namespace {

using C = ServerConfig;

// The backend table's choices and help (backend/registry.h), kept alive for the fields' views.
struct BackendChoices {
  std::string backend_help = host_backend_help();
  std::vector<std::string> backends = host_backend_names();
  std::string device_help = hayate::device_help();
  std::vector<std::string> devices = device_choices();
};

std::vector<std::string_view> views(const std::vector<std::string>& strings) {
  return {strings.begin(), strings.end()};
}

// One row per setting: name, short flag, member, help, numeric range (min == max: any), allowed
// values, secret.
// clang-format off
std::vector<ConfigField> make_fields() {
  static const BackendChoices table;
  return {
      {"host", "", &C::host, "address to listen on (loopback by default)"},
      {"port", "-p", &C::port, "TCP port (0: any free port, printed as 'listening on HOST:PORT')", 0, 65535},
      {"http_threads", "", &C::http_threads, "threads serving HTTP connections", 1, 256},
      {"tls_cert", "", &C::tls_cert, "PEM certificate chain: serve HTTPS only (with tls_key; SIGHUP reloads both)"},
      {"tls_key", "", &C::tls_key, "PEM private key of tls_cert"},
      {"model", "-m", &C::model, "GGUF model file or a name in the store (empty: the embedded default model)"},
      {"model_alias", "", &C::model_alias, "model id in /v1/models and responses (empty: the file name)"},
      {"mmproj", "", &C::mmproj, "vision tower + projector GGUF of a LLaVA model (llama.cpp's mmproj): chat "
                                 "messages may then carry image_url parts"},
      {"backend", "", &C::backend, table.backend_help, 0, 0, views(table.backends)},
      {"device", "", &C::device, table.device_help, 0, 0, views(table.devices)},
      {"gpu_memory_fraction", "", &C::gpu_memory_fraction, "share of the GPU's free memory the CUDA backend may take",
       1e-6, 1},
      {"cuda_graphs", "", &C::cuda_graphs, "capture each forward step as a CUDA graph and replay it"},
      {"gpu_layers", "", &C::gpu_layers, kGpuLayersHelp},
      {"tensor_parallel", "", &C::tensor_parallel, kTensorParallelHelp, 1, 64},
      {"threads", "-t", &C::threads, "compute threads (0: all cores)", 0, 4096},
      {"ctx_size", "-c", &C::ctx_size, "context size in tokens (0: the model's, at most 4096)", 0, 1 << 24},
      {"max_running", "", &C::max_running, "most sequences decoded together (continuous batching)", 1, 65536},
      {"max_waiting", "", &C::max_waiting, "most queued requests; more are answered 429", 0, 1 << 24},
      {"max_batch_tokens", "", &C::max_batch_tokens, "most tokens in one forward step", 1, 1 << 20},
      {"kv_blocks", "", &C::kv_blocks, "KV cache size in blocks of 16 positions (0: two full contexts)", 0, 1 << 24},
      {"max_loaded_models", "", &C::max_loaded_models,
       "most models loaded at once; loading one more unloads the least recently used (0: no cap)", 0, 1 << 20},
      {"model_memory_budget", "", &C::model_memory_budget,
       "bytes of model files plus KV caches loaded at once; over it the least recently used are unloaded (0: none)",
       0, 1e18},
      {"keep_alive", "", &C::keep_alive,
       "how long an idle model stays loaded: a duration (\"5m\", \"90s\"), 0 unloads after each request, "
       "negative keeps it (Ollama's OLLAMA_KEEP_ALIVE)"},
      {"model_queue_timeout", "", &C::model_queue_timeout,
       "seconds a request waits for its model to load (behind evictions) before a 503", 0.001, 1e6},
      {"prefix_caching", "", &C::prefix_caching, "reuse the KV blocks of shared prompt prefixes"},
      {"api_keys", "", &C::api_keys, "API keys (Authorization: Bearer KEY; 8+ characters), comma-separated", 0, 0,
       {}, true},
      {"no_auth", "", &C::no_auth, "serve without API keys on any address (loopback needs no flag)"},
      {"rate_limit_rpm", "", &C::rate_limit_rpm, "requests per minute per key (0: no limit)", 0, 1e9},
      {"rate_limit_burst", "", &C::rate_limit_burst, "requests a key may send at once before the limit applies",
       1, 1e9},
      {"cors_origins", "", &C::cors_origins, "origins allowed by CORS, comma-separated ('*': any; empty: no CORS)"},
      {"max_body_bytes", "", &C::max_body_bytes, "largest request body; more is answered 413", 1, 1ll << 32},
      {"max_prompt_tokens", "", &C::max_prompt_tokens, "longest prompt in tokens (0: the context size)", 0, 1 << 24},
      {"max_tokens_cap", "", &C::max_tokens_cap, "largest max_tokens a request may ask (0: the context size)", 0,
       1 << 24},
      {"max_n", "", &C::max_n, "largest n (choices per request)", 1, 128},
      {"request_timeout", "", &C::request_timeout, "seconds a request may take before a 504 (0: no limit)", 0, 1e7},
      {"idle_timeout", "", &C::idle_timeout,
       "seconds a connection may wait, sending nothing, for its next request (keep-alive; 0: no limit)", 0, 1e7},
      {"max_header_bytes", "", &C::max_header_bytes, "largest request head (request line and headers); more: 431",
       256, 1 << 24},
      {"max_header_count", "", &C::max_header_count, "most header fields in a request; more: 431", 1, 1e6},
      {"header_timeout", "", &C::header_timeout,
       "seconds from a request's first byte to the end of its headers (slow clients: 408; 0: no limit)", 0, 1e7},
      {"body_timeout", "", &C::body_timeout,
       "seconds to receive a request body once its headers are in (slow clients: 408; 0: no limit)", 0, 1e7},
      {"max_connections", "", &C::max_connections, "connections open at once; more are answered 503 and closed", 1,
       1e7},
      {"max_connections_per_ip", "", &C::max_connections_per_ip,
       "connections open at once from one client address; more are answered 429 and closed", 1, 1e7},
      {"drain_timeout", "", &C::drain_timeout, "seconds running requests get to finish on SIGTERM", 0, 1e7},
      {"send_buffer_bytes", "", &C::send_buffer_bytes,
       "socket send buffer of each connection (0: the system's, which grows to net.ipv4.tcp_wmem's maximum); "
       "a client that stops reading blocks writes, and write_timeout starts, once it is full", 0, 1 << 30},
      {"write_timeout", "", &C::write_timeout,
       "seconds one write to a client may take; a client that stops reading is cut off and its request "
       "cancelled (0: no limit)", 0, 1e7},
      {"engine_stall_timeout", "", &C::engine_stall_timeout,
       "seconds without progress after which the engine loop counts as stuck: /health answers 503, new and "
       "running requests end with 503",
       0.001, 1e7},
      {"debug_step_delay_ms", "", &C::debug_step_delay_ms,
       "for tests: sleep this long inside every engine step (0: never; slows everything down)", 0, 1e7},
      {"gzip", "", &C::gzip, "gzip responses over 1 KiB when the client accepts it (not streams)"},
      {"slow_request_ms", "", &C::slow_request_ms, "log a 'slow request' line above this duration", 0, 1e9},
      {"log_level", "", &C::log_level, "trace, debug, info, warn, error or off", 0, 0,
       {"trace", "debug", "info", "warn", "error", "off"}},
      {"log_file", "", &C::log_file, "write the log to this file instead of stderr, rotated by size (empty: stderr)"},
      {"log_max_bytes", "", &C::log_max_bytes, "rotate the log file once it reaches this size", 1024, 1e15},
      {"log_files", "", &C::log_files, "rotated log files kept beside the current one (FILE.1.log, ...)", 1, 1000},
      {"compress_rate_limit_rpm", "", &C::compress_rate_limit_rpm,
       "requests per minute per key on the compression routes (0: no limit)", 0, 1e9},
      {"compress_rate_limit_burst", "", &C::compress_rate_limit_burst,
       "compression requests a key may send at once before that limit applies", 1, 1e9},
      {"compress_cache_entries", "", &C::compress_cache_entries, "compression results kept (LRU; 0: no cache)", 0,
       1 << 24},
      {"compress_cache_ttl", "", &C::compress_cache_ttl, "seconds a cached compression result stays valid", 0, 1e9},
      {"compress_preload", "", &C::compress_preload,
       "JSON file with an array of common texts to compress into the cache at start"},
      {"compress_fallback_model", "", &C::compress_fallback_model,
       "lower-bit GGUF of the same model: the fallback chain's step before plain zstd"},
      {"compress_retries", "", &C::compress_retries, "retries per step of a transient compression error", 0, 100},
      {"compress_slow_ms", "", &C::compress_slow_ms, "log a 'slow compression' line above this duration", 0, 1e9},
      {"compress_price_per_1k_tokens", "", &C::compress_price_per_1k_tokens,
       "price of 1,000 tokens, for the estimated cost saving", 0, 1e9},
      {"compress_quality_alert", "", &C::compress_quality_alert,
       "semantic results whose quality (embedding cosine) is below this are flagged", 0, 1},
      {"compress_sequences", "", &C::compress_sequences, "windows the compression coder runs side by side", 1, 255},
      {"compress_debug_fail_steps", "", &C::compress_debug_fail_steps,
       "for tests: steps of the compression fallback chain that fail on purpose, comma-separated"},
      {"cache", "", &C::cache,
       "exact response cache of deterministic requests (temperature 0 or a fixed seed): off, memory, or "
       "redis://HOST:PORT[/DB] (shared by several servers)"},
      {"cache_entries", "", &C::cache_entries, "memory cache: most entries kept (LRU; 0: no limit)", 0, 1e9},
      {"cache_max_bytes", "", &C::cache_max_bytes, "memory cache: most bytes kept (LRU; 0: no limit)", 0, 1e15},
      {"cache_ttl", "", &C::cache_ttl, "seconds a cached response stays valid (0: until evicted)", 0, 1e9},
      {"cache_compress", "", &C::cache_compress, "memory cache: keep responses zstd-compressed"},
      {"cache_persist", "", &C::cache_persist,
       "memory cache: file it is loaded from at start and saved to (atomically) at exit; empty: not kept"},
      {"rag_cache", "", &C::rag_cache,
       "store of the embedding and search caches of retrieval: off, memory, or redis://HOST:PORT[/DB]"},
      {"embedding_cache_entries", "", &C::embedding_cache_entries, "query embeddings kept (0: no embedding cache)", 0,
       1e9},
      {"search_cache_entries", "", &C::search_cache_entries, "collection searches kept (0: no search cache)", 0, 1e9},
      {"rag_cache_ttl", "", &C::rag_cache_ttl, "seconds a cached embedding or search stays valid (0: until evicted)",
       0, 1e9},
      {"semantic_cache_threshold", "", &C::semantic_cache_threshold,
       "RAG chat: answer a question from the cache when its embedding's cosine similarity to one answered before "
       "(same collection and version, same other fields) is at least this (0: off)",
       0, 1},
      {"semantic_cache_entries", "", &C::semantic_cache_entries, "RAG chat answers the semantic cache keeps", 1, 1e9},
      {"collections_dir", "", &C::collections_dir,
       "directory of the retrieval collections (SQLite; /v1/collections); empty: collections are off"},
      {"rag_store", "", &C::rag_store,
       "PostgreSQL URL (postgresql://...) of the collections, shared by the servers that name it; the index files "
       "stay in collections_dir (empty: in memory); empty: SQLite in collections_dir"},
      {"rag_chunk_tokens", "", &C::rag_chunk_tokens, "most tokens in one chunk of an ingested document", 16, 1 << 20},
      {"rag_chunk_overlap", "", &C::rag_chunk_overlap, "tokens consecutive chunks of a section may share", 0,
       1 << 20},
      {"conversations_db", "", &C::conversations_db,
       "store of the web chat's conversations: a SQLite file, redis://HOST[:PORT][/DB] or postgresql://... (servers "
       "sharing it share them); empty: in memory"},
      {"conversation_max_messages", "", &C::conversation_max_messages,
       "most messages of a conversation sent to the model (older ones are dropped; 0: all)", 0, 1e6},
      {"chat_default_temperature", "", &C::chat_default_temperature,
       "temperature of web chats that give none (< 0: the API's default)", -1, 2},
      {"chat_default_max_tokens", "", &C::chat_default_max_tokens,
       "max_tokens of web chats that give none (0: up to the context)", 0, 1 << 24},
      {"ws_max_message_bytes", "", &C::ws_max_message_bytes,
       "largest WebSocket message accepted; a bigger one closes the socket (code 1009)", 1024, 1 << 30},
      {"gpu_metrics_library", "", &C::gpu_metrics_library,
       "NVIDIA's NVML library read for the GPUs' memory and utilisation on /metrics and the dashboard (absent "
       "without a driver or a GPU); empty: none"},
      {"image_max_bytes", "", &C::image_max_bytes, "largest image in a chat message, encoded (raise max_body_bytes too)",
       1, 1ll << 32},
      {"image_max_pixels", "", &C::image_max_pixels, "largest image in pixels (width x height), checked from its header",
       1, 1e12},
      {"image_max_decode_seconds", "", &C::image_max_decode_seconds, "seconds one image may take to decode", 1e-3, 3600},
      {"image_max_per_request", "", &C::image_max_per_request, "most images in one request", 0, 1024},
      {"image_url_fetch", "", &C::image_url_fetch, "fetch http:// image URLs in chat messages (off: data: URLs only)"},
      {"image_fetch_timeout", "", &C::image_fetch_timeout, "seconds to fetch one image URL", 0.1, 3600},
      {"image_decode_threads", "", &C::image_decode_threads, "threads decoding images, beside the HTTP threads", 1, 256},
      {"micro_batch_max", "", &C::micro_batch_max,
       "non-streamed task and embedding requests handed to the engine together at most (0: no micro-batching)", 0, 65536},
      {"micro_batch_wait_ms", "", &C::micro_batch_wait_ms,
       "ms the first request of a micro-batch waits for others (0: no micro-batching)", 0, 60000},
      {"data_max_records", "", &C::data_max_records, "most records in one /v1/data/process request", 1, 1e9},
      {"data_max_fields", "", &C::data_max_fields, "most distinct field names in one /v1/data/process request", 1, 1e6},
      {"data_max_body_bytes", "", &C::data_max_body_bytes, "largest /v1/data/process body", 1, 1ll << 32},
  };
}
// clang-format on

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string format_double(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, end);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";  // TOML floats need a fraction
  return s;
}

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::stringstream ss{std::string(text)};
  std::string item;
  while (std::getline(ss, item, ','))
    if (std::string t = trim(item); !t.empty()) out.push_back(std::move(t));
  return out;
}

std::string range_text(const ConfigField& f) {
  std::ostringstream os;
  if (f.min == std::floor(f.min))
    os << "[" << static_cast<int64_t>(f.min);
  else
    os << "[" << f.min;
  os << ", " << static_cast<int64_t>(f.max) << "]";
  return os.str();
}

void check_number(const ConfigField& f, double v, std::string_view source) {
  if (f.min != f.max && (v < f.min || v > f.max))
    fail(ErrorKind::BadInput, std::string(source) + ": " + std::string(f.name) + " must be in " + range_text(f));
}

void check_choice(const ConfigField& f, const std::string& v, std::string_view source) {
  if (f.choices.empty()) return;
  std::string list;
  for (std::string_view c : f.choices) {
    if (c == v) return;
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  fail(ErrorKind::BadInput,
       std::string(source) + ": '" + v + "' is not a valid " + std::string(f.name) + "; use one of " + list);
}

// Sets a field from a parsed TOML node, with the same checks as text sources.
void set_from_toml(const ConfigField& f, ServerConfig& c, const toml::node& node, const std::string& where) {
  auto wrong = [&](const char* expected) {
    fail(ErrorKind::BadInput, where + ": " + std::string(f.name) + " must be " + expected);
  };
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(c.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          const auto v = node.value_exact<std::string>();
          if (!v) wrong("a string");
          check_choice(f, *v, where);
          c.*member = *v;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          const auto v = node.value_exact<int64_t>();
          if (!v) wrong("an integer");
          check_number(f, static_cast<double>(*v), where);
          c.*member = *v;
        } else if constexpr (std::is_same_v<T, double>) {
          const auto v = node.value<double>();  // an integer is a fine number of seconds
          if (!v || !std::isfinite(*v)) wrong("a number");
          check_number(f, *v, where);
          c.*member = *v;
        } else if constexpr (std::is_same_v<T, bool>) {
          const auto v = node.value_exact<bool>();
          if (!v) wrong("true or false");
          c.*member = *v;
        } else {
          const toml::array* arr = node.as_array();
          if (!arr) wrong("an array of strings");
          T list;
          for (const toml::node& item : *arr) {
            const auto s = item.value_exact<std::string>();
            if (!s) wrong("an array of strings");
            list.push_back(*s);
          }
          c.*member = std::move(list);
        }
      },
      f.ref);
}

}  // namespace

std::string ConfigField::flag() const {
  std::string out = "--" + std::string(name);
  for (char& ch : out)
    if (ch == '_') ch = '-';
  return out;
}

std::string ConfigField::env_var() const {
  std::string out = "HAYATE_" + std::string(name);
  for (char& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

const std::vector<ConfigField>& config_fields() {
  static const std::vector<ConfigField> fields = make_fields();
  return fields;
}

std::string toml_value(const ConfigField& field, const ServerConfig& config) {
  return std::visit(
      [&](auto member) -> std::string {
        const auto& v = config.*member;
        using T = std::remove_cvref_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return toml_string(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          return format_double(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else {
          std::string out = "[";
          for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
          return out + "]";
        }
      },
      field.ref);
}

void set_from_text(const ConfigField& f, ServerConfig& c, std::string_view text, std::string_view source) {
  const std::string t = trim(text);
  auto wrong = [&](const char* expected) {
    fail(ErrorKind::BadInput, std::string(source) + ": '" + t + "' is not " + expected);
  };
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(c.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          check_choice(f, t, source);
          c.*member = t;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          int64_t v = 0;
          const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
          if (t.empty() || ec != std::errc() || end != t.data() + t.size()) wrong("an integer");
          check_number(f, static_cast<double>(v), source);
          c.*member = v;
        } else if constexpr (std::is_same_v<T, double>) {
          char* end = nullptr;
          const double v = std::strtod(t.c_str(), &end);
          if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v)) wrong("a number");
          check_number(f, v, source);
          c.*member = v;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (t == "1" || t == "true" || t == "yes" || t == "on")
            c.*member = true;
          else if (t == "0" || t == "false" || t == "no" || t == "off")
            c.*member = false;
          else
            wrong("a boolean (true/false, 1/0, yes/no, on/off)");
        } else {
          c.*member = split_list(t);
        }
      },
      f.ref);
}

void apply_toml_file(ServerConfig& config, const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail(ErrorKind::NotFound, path + ": no such configuration file");
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) fail(ErrorKind::NotFound, path + ": cannot read the configuration file");
  apply_toml_text(config, text, path);
}

void apply_toml_text(ServerConfig& config, std::string_view text, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    fail(ErrorKind::BadInput, path + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) +
                                  ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : table) {
    const std::string where = path + ":" + std::to_string(node.source().begin.line);
    if (key.str() == "models") {
      config.models = models_from_toml(node, where);
      continue;
    }
    const ConfigField* field = nullptr;
    for (const ConfigField& f : config_fields())
      if (f.name == key.str()) field = &f;
    if (!field)
      fail(ErrorKind::BadInput,
           where + ": unknown key '" + std::string(key.str()) + "' (hayate serve --print-config lists the keys)");
    set_from_toml(*field, config, node, where);
  }
}

void apply_environment(ServerConfig& config) {
  for (const ConfigField& f : config_fields())
    if (const char* v = std::getenv(f.env_var().c_str())) set_from_text(f, config, v, f.env_var());
}

std::string to_toml(const ServerConfig& config) {
  std::string out = "# hayate serve: the merged configuration (file < HAYATE_* environment < flags)\n";
  for (const ConfigField& f : config_fields()) {
    out += "\n# " + std::string(f.help) + "\n";
    if (f.secret) {
      const auto* list = std::get_if<std::vector<std::string> ServerConfig::*>(&f.ref);
      const size_t n = list ? (config.**list).size() : 0;
      out += "# " + std::string(f.name) + ": " + std::to_string(n) + " set, not printed\n";
      continue;
    }
    out += std::string(f.name) + " = " + toml_value(f, config) + "\n";
  }
  return out + models_toml(config.models);
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

void validate(const ServerConfig& config) {
  if (config.api_keys.empty() && !config.no_auth && !is_loopback_host(config.host))
    fail(ErrorKind::BadInput, "refusing to serve on " + config.host +
                                  " without API keys: anyone who can reach it could use the model. Set api_keys "
                                  "(--api-keys KEY or HAYATE_API_KEYS), or pass --no-auth to serve openly");
  for (const std::string& k : config.api_keys)
    if (k.size() < 8) fail(ErrorKind::BadInput, "api_keys: every key needs at least 8 characters");
  const std::optional<int32_t> gpu_layers = parse_gpu_layers(config.gpu_layers);
  if (gpu_layers && config.device == "cpu")
    fail(ErrorKind::BadInput, "gpu_layers " + config.gpu_layers +
                                  " needs a GPU (device cuda or auto); device cpu "
                                  "runs every layer on the CPU");
  if (config.cache != "off" && config.cache != "memory") {
    if (config.cache.rfind("redis://", 0) != 0)
      fail(ErrorKind::BadInput, "cache: '" + config.cache + "' is not off, memory or redis://HOST:PORT[/DB]");
    cache::make_store(config.cache);  // parses the address (BadInput naming what is wrong); connects later
  }
  if (config.rag_cache != "off" && config.rag_cache != "memory") {
    if (config.rag_cache.rfind("redis://", 0) != 0)
      fail(ErrorKind::BadInput, "rag_cache: '" + config.rag_cache + "' is not off, memory or redis://HOST:PORT[/DB]");
    cache::make_store(config.rag_cache);
  }
  if (config.tls_cert.empty() != config.tls_key.empty())
    fail(ErrorKind::BadInput, std::string("TLS needs both tls_cert and tls_key (--tls-cert, --tls-key); only ") +
                                  (config.tls_cert.empty() ? "tls_key" : "tls_cert") + " is set");
  validate_models(config);
  if (config.rag_chunk_overlap >= config.rag_chunk_tokens)
    fail(ErrorKind::BadInput, "rag_chunk_overlap must be below rag_chunk_tokens");
}

}  // namespace hayate::server
