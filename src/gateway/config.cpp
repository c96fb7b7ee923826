#include "gateway/config.h"

#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include "core/error.h"
#include "net/url.h"

namespace hayate::gateway {
namespace {

// A scalar or list setting of one table: its key, where it goes, and (numbers) its range.
template <typename S>
struct Field {
  using Ref = std::variant<std::string S::*, int64_t S::*, double S::*, bool S::*, std::vector<std::string> S::*>;
  std::string_view key;
  Ref ref;
  double min = 0, max = 0;  // min == max: any
};

using G = GatewayConfig;
// clang-format off
const std::vector<Field<G>> kGatewayFields = {
    {"host", &G::host}, {"port", &G::port, 0, 65535}, {"http_threads", &G::http_threads, 1, 64},
    {"no_auth", &G::no_auth},
    {"request_timeout", &G::request_timeout, 0.001, 1e7}, {"read_timeout", &G::read_timeout, 0.001, 1e7},
    {"write_timeout", &G::write_timeout, 0.001, 1e7}, {"drain_timeout", &G::drain_timeout, 0, 1e7},
    {"max_body_bytes", &G::max_body_bytes, 1, 1ll << 32}, {"max_response_bytes", &G::max_response_bytes, 1, 1ll << 34},
    {"max_buffered_bytes", &G::max_buffered_bytes, 1024, 1ll << 32},
    {"retries", &G::retries, 0, 100}, {"retry_base_ms", &G::retry_base_ms, 0, 1e6},
    {"retry_max_ms", &G::retry_max_ms, 0, 1e7},
    {"health_interval", &G::health_interval, 0, 1e6}, {"health_timeout", &G::health_timeout, 0.001, 1e6},
    {"eject_failures", &G::eject_failures, 1, 1e6}, {"eject_seconds", &G::eject_seconds, 0.001, 1e6},
    {"eject_max_seconds", &G::eject_max_seconds, 0.001, 1e7},
    {"affinity_block_bytes", &G::affinity_block_bytes, 0, 1 << 20},
    {"affinity_entries", &G::affinity_entries, 1, 1 << 26}, {"affinity_slack", &G::affinity_slack, 0, 1e6},
    {"rate_limit_rpm", &G::rate_limit_rpm, 0, 1e9}, {"rate_limit_burst", &G::rate_limit_burst, 1, 1e9},
    {"cors_origins", &G::cors_origins},
    {"cache_entries", &G::cache_entries, 0, 1 << 26}, {"cache_ttl_completions", &G::cache_ttl_completions, 0, 1e9},
    {"cache_ttl_embeddings", &G::cache_ttl_embeddings, 0, 1e9}, {"cache_store", &G::cache_store},
    {"log_level", &G::log_level},
};
const std::vector<Field<UpstreamConfig>> kUpstreamFields = {
    {"name", &UpstreamConfig::name}, {"url", &UpstreamConfig::url}, {"model", &UpstreamConfig::model},
    {"upstream_model", &UpstreamConfig::upstream_model}, {"api_key", &UpstreamConfig::api_key},
};
const std::vector<Field<ModelConfig>> kModelFields = {
    {"name", &ModelConfig::name}, {"aliases", &ModelConfig::aliases}, {"fallback", &ModelConfig::fallback},
};
const std::vector<Field<KeyConfig>> kKeyFields = {
    {"key", &KeyConfig::key}, {"name", &KeyConfig::name}, {"rate_limit_rpm", &KeyConfig::rate_limit_rpm, 0, 1e9},
    {"rate_limit_burst", &KeyConfig::rate_limit_burst, 0, 1e9}, {"token_quota", &KeyConfig::token_quota, 0, 1e15},
    {"quota_window", &KeyConfig::quota_window, 1, 1e9},
};
// clang-format on

std::string at(const std::string& source, const toml::node& node) {
  return source + ":" + std::to_string(node.source().begin.line);
}

template <typename S>
void set_field(const Field<S>& f, S& s, const toml::node& node, const std::string& where) {
  auto wrong = [&](const char* expected) {
    fail(ErrorKind::BadInput, where + ": " + std::string(f.key) + " must be " + expected);
  };
  auto check = [&](double v) {
    if (f.min != f.max && (v < f.min || v > f.max)) {
      std::ostringstream os;
      os << where << ": " << f.key << " must be in [" << f.min << ", " << f.max << "]";
      fail(ErrorKind::BadInput, os.str());
    }
  };
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(s.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          const auto v = node.value_exact<std::string>();
          if (!v) wrong("a string");
          s.*member = *v;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          const auto v = node.value_exact<int64_t>();
          if (!v) wrong("an integer");
          check(static_cast<double>(*v));
          s.*member = *v;
        } else if constexpr (std::is_same_v<T, double>) {
          const auto v = node.value<double>();
          if (!v || !std::isfinite(*v)) wrong("a number");
          check(*v);
          s.*member = *v;
        } else if constexpr (std::is_same_v<T, bool>) {
          const auto v = node.value_exact<bool>();
          if (!v) wrong("true or false");
          s.*member = *v;
        } else {
          const toml::array* arr = node.as_array();
          if (!arr) wrong("an array of strings");
          T list;
          for (const toml::node& item : *arr) {
            const auto v = item.value_exact<std::string>();
            if (!v) wrong("an array of strings");
            list.push_back(*v);
          }
          s.*member = std::move(list);
        }
      },
      f.ref);
}

template <typename S>
void read_table(const toml::table& table, const std::vector<Field<S>>& fields, S& s, const std::string& source,
                const std::string& what, const std::set<std::string_view>& skip = {}) {
  for (const auto& [key, node] : table) {
    if (skip.count(key.str())) continue;
    const Field<S>* field = nullptr;
    for (const Field<S>& f : fields)
      if (f.key == key.str()) field = &f;
    if (!field) {
      std::string known;
      for (const Field<S>& f : fields) known += (known.empty() ? "" : ", ") + std::string(f.key);
      fail(ErrorKind::BadInput,
           at(source, node) + ": unknown key '" + std::string(key.str()) + "' in " + what + " (known: " + known + ")");
    }
    set_field(*field, s, node, at(source, node));
  }
}

template <typename S>
std::vector<S> read_array(const toml::node& node, const std::vector<Field<S>>& fields, const std::string& source,
                          const std::string& what) {
  const toml::array* arr = node.as_array();
  if (!arr)
    fail(ErrorKind::BadInput, at(source, node) + ": " + what + " must be an array of tables ([[" + what + "]])");
  std::vector<S> out;
  for (const toml::node& item : *arr) {
    const toml::table* t = item.as_table();
    if (!t) fail(ErrorKind::BadInput, at(source, item) + ": each " + what + " entry must be a table");
    S s;
    read_table(*t, fields, s, source, "[[" + what + "]]");
    out.push_back(std::move(s));
  }
  return out;
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

void check(GatewayConfig& c, const std::string& source) {
  auto bad = [&](const std::string& why) { fail(ErrorKind::BadInput, source + ": " + why); };
  if (c.upstreams.empty()) bad("no [[upstreams]]: the gateway needs at least one server to send requests to");
  if (c.retry_max_ms < c.retry_base_ms) bad("retry_max_ms must not be below retry_base_ms");
  if (c.eject_max_seconds < c.eject_seconds) bad("eject_max_seconds must not be below eject_seconds");
  std::set<std::string> names, models;
  for (size_t i = 0; i < c.upstreams.size(); ++i) {
    UpstreamConfig& u = c.upstreams[i];
    const std::string which = "upstream " + std::to_string(i + 1);
    if (u.url.empty()) bad(which + " has no url");
    if (u.model.empty()) bad(which + " (" + u.url + ") has no model");
    net::Url url;
    try {
      url = net::parse_api_url(u.url);
    } catch (const Error& e) {  // the URL's own message, said where it is
      fail(ErrorKind::BadInput, source + ": " + which + ": " + e.what());
    }
    if (u.name.empty()) u.name = url.authority();
    if (!names.insert(u.name).second) bad("two upstreams are named '" + u.name + "'; give each a distinct name");
    models.insert(u.model);
  }
  std::set<std::string> listed, names_and_aliases(models);
  for (const ModelConfig& m : c.models) {
    if (m.name.empty()) bad("a [[models]] entry has no name");
    if (!listed.insert(m.name).second) bad("model '" + m.name + "' is listed twice in [[models]]");
    if (!models.count(m.name)) bad("model '" + m.name + "' has no upstream serving it");
    for (const std::string& a : m.aliases)
      if (a.empty() || !names_and_aliases.insert(a).second)
        bad("the alias '" + a + "' of model '" + m.name + "' is empty or names another model or alias");
    for (const std::string& f : m.fallback) {
      if (f == m.name) bad("model '" + m.name + "' falls back to itself");
      if (!models.count(f)) bad("model '" + m.name + "' falls back to '" + f + "', which no upstream serves");
    }
  }
  std::set<std::string> keys, key_names;
  for (size_t i = 0; i < c.keys.size(); ++i) {
    KeyConfig& k = c.keys[i];
    if (k.key.size() < 8) bad("key " + std::to_string(i + 1) + " has fewer than 8 characters");
    if (!keys.insert(k.key).second) bad("key " + std::to_string(i + 1) + " is listed twice");
    if (k.name.empty()) k.name = "key" + std::to_string(i + 1);
    if (!key_names.insert(k.name).second) bad("two keys are named '" + k.name + "'");
    if (k.rate_limit_rpm == 0) k.rate_limit_rpm = c.rate_limit_rpm;
    if (k.rate_limit_burst == 0) k.rate_limit_burst = c.rate_limit_burst;
  }
  const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.count(c.log_level))
    bad("log_level '" + c.log_level + "' is not one of trace, debug, info, warn, error, off");
  if (c.keys.empty() && !c.no_auth && !loopback(c.host))
    bad("refusing to listen on " + c.host +
        " without [[keys]]: anyone who can reach it could use the upstreams. Add keys, or set no_auth = true");
}

}  // namespace

GatewayConfig parse_gateway_config(std::string_view text, const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    fail(ErrorKind::BadInput, source + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) +
                                  ": " + std::string(e.description()));
  }
  GatewayConfig c;
  if (const toml::node* n = table.get("upstreams")) c.upstreams = read_array(*n, kUpstreamFields, source, "upstreams");
  if (const toml::node* n = table.get("models")) c.models = read_array(*n, kModelFields, source, "models");
  if (const toml::node* n = table.get("keys")) c.keys = read_array(*n, kKeyFields, source, "keys");
  read_table(table, kGatewayFields, c, source, "the gateway's settings (or [[upstreams]], [[models]], [[keys]])",
             {"upstreams", "models", "keys"});
  check(c, source);
  return c;
}

GatewayConfig load_gateway_config(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail(ErrorKind::NotFound, path + ": no such gateway configuration file");
  std::ifstream f(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), {});
  return parse_gateway_config(text, path);
}

std::string resolve_model(const GatewayConfig& config, const std::string& name) {
  for (const UpstreamConfig& u : config.upstreams)
    if (u.model == name) return name;
  for (const ModelConfig& m : config.models)
    for (const std::string& a : m.aliases)
      if (a == name) return m.name;
  return "";
}

}  // namespace hayate::gateway
