#include "server/config_models.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "api/ollama.h"
#include "core/error.h"

namespace hayate::server {
namespace {

[[noreturn]] void bad_row(const std::string& where, const std::string& what) {
  fail(ErrorKind::BadInput, where + ": models: " + what);
}

std::string text_of(const toml::node& n, const std::string& where, const std::string& key) {
  if (const auto s = n.value<std::string>()) return *s;
  bad_row(where, "'" + key + "' must be a string");
}

// A JSON string is a TOML basic string for everything a path or a name holds.
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

std::vector<ModelSpec> models_from_toml(const toml::node& node, const std::string& where) {
  const toml::array* rows = node.as_array();
  if (!rows) bad_row(where, "expected an array of tables ([[models]] with name = ..., file = ...)");
  std::vector<ModelSpec> out;
  for (const toml::node& row_node : *rows) {
    const toml::table* row = row_node.as_table();
    if (!row) bad_row(where, "each row must be a table with name = ..., file = ...");
    const std::string at = where + " (row " + std::to_string(out.size() + 1) + ")";
    ModelSpec m;
    for (const auto& [k, v] : *row) {
      const std::string key(k.str());
      if (key == "name") {
        m.name = text_of(v, at, key);
      } else if (key == "file") {
        m.file = text_of(v, at, key);
      } else if (key == "device") {
        m.device = text_of(v, at, key);
      } else if (key == "context" || key == "ctx_size") {
        const auto n = v.value<int64_t>();
        if (!n || *n < 0) bad_row(at, "'" + key + "' must be a whole number of tokens (0: the model's)");
        m.ctx_size = *n;
      } else if (key == "keep_loaded") {
        const auto b = v.value<bool>();
        if (!b) bad_row(at, "'keep_loaded' must be true or false");
        m.keep_loaded = *b;
      } else if (key == "keep_alive") {
        if (const auto n = v.value<double>())
          m.keep_alive = nlohmann::json(*n).dump();
        else
          m.keep_alive = text_of(v, at, key);
      } else if (key == "aliases") {
        const toml::array* list = v.as_array();
        if (!list) bad_row(at, "'aliases' must be an array of strings");
        for (const toml::node& a : *list) m.aliases.push_back(text_of(a, at, key));
      } else {
        bad_row(at, "unknown field '" + key +
                        "' (a row has name, file, device, context, keep_loaded, keep_alive, aliases)");
      }
    }
    if (m.name.empty()) bad_row(at, "every row needs a name");
    out.push_back(std::move(m));
  }
  return out;
}

std::string models_toml(const std::vector<ModelSpec>& models) {
  std::string out;
  for (const ModelSpec& m : models) {
    out += "\n[[models]]\nname = " + quoted(m.name) + "\nfile = " + quoted(m.file) + "\n";
    if (!m.device.empty()) out += "device = " + quoted(m.device) + "\n";
    if (m.ctx_size >= 0) out += "context = " + std::to_string(m.ctx_size) + "\n";
    if (m.keep_loaded) out += "keep_loaded = true\n";
    if (!m.keep_alive.empty()) out += "keep_alive = " + quoted(m.keep_alive) + "\n";
    if (!m.aliases.empty()) {
      out += "aliases = [";
      for (size_t i = 0; i < m.aliases.size(); ++i) out += (i ? ", " : "") + quoted(m.aliases[i]);
      out += "]\n";
    }
  }
  return out;
}

double keep_alive_seconds(const std::string& text, const std::string& what) {
  try {
    const std::optional<double> s = api::ollama::parse_keep_alive(nlohmann::json(text));
    return s.value_or(-1);
  } catch (const std::exception&) {
    fail(ErrorKind::BadInput, what + ": '" + text + "' is not a duration like \"5m\", \"90s\", \"0\" or \"-1\"");
  }
}

void validate_models(const ServerConfig& config) {
  keep_alive_seconds(config.keep_alive, "keep_alive");
  std::set<std::string> ids;
  for (const ModelSpec& m : config.models) {
    if (!m.keep_alive.empty()) keep_alive_seconds(m.keep_alive, "models: " + m.name + ": keep_alive");
    if (!m.device.empty() && m.device != "auto" && m.device != "cpu" && m.device != "cuda")
      fail(ErrorKind::BadInput, "models: " + m.name + ": device '" + m.device + "' is not auto, cpu or cuda");
    std::vector<std::string> names = m.aliases;
    names.push_back(m.name);
    for (const std::string& id : names)
      if (id.empty() || !ids.insert(id).second)
        fail(ErrorKind::BadInput, "models: the name or alias '" + id + "' is " +
                                      (id.empty() ? "empty" : "given twice") + "; each must name one model");
  }
}

std::vector<ModelSpec> served_models(const ServerConfig& config) {
  if (!config.models.empty()) return config.models;
  ModelSpec one;  // `-m FILE` alone: one model, loaded at start and kept, as before the table
  one.name = config.model_alias;
  one.file = config.model;
  one.keep_loaded = true;
  return {one};
}

}  // namespace hayate::server
