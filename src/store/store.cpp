#include "store/store.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace hayate::store {
namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

fs::path home_sub(const char* xdg, const char* fallback) {
  if (const std::string x = env(xdg); !x.empty()) return x;
  const std::string home = env("HOME");
  return fs::path(home.empty() ? "." : home) / fallback;
}

bool segment_ok(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

int64_t parse_count(const std::string& text, const char* what, int64_t lo) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size() && v >= lo) return v;
  } catch (const std::exception&) {
  }
  fail(ErrorKind::BadInput,
       std::string(what) + ": '" + text + "' is not a whole number of at least " + std::to_string(lo));
}

void apply_toml(StoreConfig& c, const fs::path& file) {
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    fail(ErrorKind::BadInput, file.string() + ": " + std::string(e.description()));
  }
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    auto str = [&]() -> std::string {
      if (!value.is_string()) fail(ErrorKind::BadInput, file.string() + ": " + k + " must be a string");
      return value.as_string()->get();
    };
    auto num = [&](int64_t lo) -> int64_t {
      if (!value.is_integer() || value.as_integer()->get() < lo)
        fail(ErrorKind::BadInput, file.string() + ": " + k + " must be an integer of at least " + std::to_string(lo));
      return value.as_integer()->get();
    };
    if (k == "models_dir")
      c.models_dir = str();
    else if (k == "mirror")
      c.mirror = str();
    else if (k == "hf_base")
      c.hf_base = str();
    else if (k == "hf_token")
      c.hf_token = str();
    else if (k == "pull_connections")
      c.connections = static_cast<int>(num(1));
    else if (k == "pull_parallel_min_bytes")
      c.parallel_min_bytes = static_cast<uint64_t>(num(1));
    else
      fail(ErrorKind::BadInput, file.string() + ": unknown key '" + k +
                                    "' (known: models_dir, mirror, hf_base, hf_token, pull_connections, "
                                    "pull_parallel_min_bytes)");
  }
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

fs::path default_models_dir() { return home_sub("XDG_DATA_HOME", ".local/share") / "hayate" / "models"; }

StoreConfig load_config() {
  StoreConfig c;
  c.models_dir = default_models_dir();
  fs::path file = env("HAYATE_STORE_CONFIG");
  if (!file.empty() && !fs::exists(file))
    fail(ErrorKind::NotFound, "HAYATE_STORE_CONFIG: " + file.string() + " does not exist");
  if (file.empty()) file = home_sub("XDG_CONFIG_HOME", ".config") / "hayate" / "store.toml";
  if (fs::exists(file)) apply_toml(c, file);
  if (const std::string v = env("HAYATE_MODELS"); !v.empty()) c.models_dir = v;
  if (const std::string v = env("HAYATE_MIRROR"); !v.empty()) c.mirror = v;
  if (const std::string v = env("HAYATE_HF_BASE"); !v.empty()) c.hf_base = v;
  if (const std::string v = env("HAYATE_HF_TOKEN"); !v.empty()) c.hf_token = v;
  if (const std::string v = env("HAYATE_PULL_CONNECTIONS"); !v.empty())
    c.connections = static_cast<int>(std::min<int64_t>(parse_count(v, "HAYATE_PULL_CONNECTIONS", 1), 64));
  if (const std::string v = env("HAYATE_PULL_PARALLEL_MIN"); !v.empty())
    c.parallel_min_bytes = static_cast<uint64_t>(parse_count(v, "HAYATE_PULL_PARALLEL_MIN", 1));
  return c;
}

bool is_valid_name(std::string_view text) {
  try {
    parse_name(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

ModelName parse_name(std::string_view text) {
  const std::string shape = "expected name[:tag], segments of letters, digits, '.', '_', '-' joined by '/'";
  const auto bad = [&](const std::string& why) {
    fail(ErrorKind::BadInput, "model name '" + std::string(text) + "': " + why + "; " + shape);
  };
  ModelName n;
  std::string_view name = text;
  if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    n.tag = std::string(text.substr(colon + 1));
    if (!segment_ok(n.tag)) bad("the tag '" + n.tag + "' is empty or has a character a tag cannot have");
  }
  if (name.empty()) bad("no name before the tag");
  for (size_t start = 0;;) {
    const size_t slash = name.find('/', start);
    const std::string_view seg = name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (!segment_ok(seg)) bad("the part '" + std::string(seg) + "' is empty, '.' or '..', or has another character");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  n.name = std::string(name);
  return n;
}

Manifest parse_manifest(std::string_view json, std::string_view what, bool remote) {
  const std::string where(what);
  const auto bad = [&](const std::string& why) { fail(ErrorKind::BadInput, where + ": " + why); };
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) bad("not JSON");
  if (!j.is_object()) bad("a manifest is a JSON object");
  const auto text = [&](const nlohmann::json& o, const char* key, bool required, const std::string& in) {
    if (!o.contains(key)) {
      if (required) bad(in + "has no \"" + key + "\"");
      return std::string();
    }
    if (!o[key].is_string()) bad(in + "\"" + key + "\" must be a string");
    return o[key].get<std::string>();
  };
  Manifest m;
  m.name = text(j, "name", !remote, "");
  if (!m.name.empty()) {
    const std::string tag = text(j, "tag", false, "");
    const ModelName n = parse_name(m.name + (tag.empty() ? "" : ":" + tag));
    m.name = n.name;
    m.tag = n.tag;
  }
  m.source = text(j, "source", false, "");
  if (j.contains("pulled")) {
    if (!j["pulled"].is_number_integer()) bad("\"pulled\" must be an integer (seconds since 1970)");
    m.pulled = j["pulled"].get<int64_t>();
  }
  if (!j.contains("files") || !j["files"].is_array() || j["files"].empty())
    bad("\"files\" must be a non-empty array of {name, size, sha256}");
  for (size_t i = 0; i < j["files"].size(); ++i) {
    const nlohmann::json& f = j["files"][i];
    const std::string in = "files[" + std::to_string(i) + "] ";
    if (!f.is_object()) bad(in + "is not an object");
    ManifestFile mf;
    mf.name = text(f, "name", true, in);
    if (!segment_ok(mf.name)) bad(in + "name '" + mf.name + "' is not a plain file name");
    mf.sha256 = text(f, "sha256", true, in);
    if (mf.sha256.size() != 64 || mf.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
      bad(in + "sha256 must be 64 lower-case hex digits");
    if (f.contains("size")) {
      if (!f["size"].is_number_unsigned()) bad(in + "size must be a non-negative integer");
      mf.size = f["size"].get<uint64_t>();
    } else if (!remote) {
      bad(in + "has no \"size\"");
    }
    mf.url = text(f, "url", false, in);
    for (const ManifestFile& other : m.files)
      if (other.name == mf.name) bad(in + "repeats the file name '" + mf.name + "'");
    m.files.push_back(std::move(mf));
  }
  return m;
}

std::string to_json(const Manifest& m) {
  nlohmann::json files = nlohmann::json::array();
  for (const ManifestFile& f : m.files) {
    nlohmann::json o = {{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}};
    if (!f.url.empty()) o["url"] = f.url;
    files.push_back(std::move(o));
  }
  const nlohmann::json j = {
      {"name", m.name}, {"tag", m.tag}, {"source", m.source}, {"pulled", m.pulled}, {"files", files}};
  return j.dump(2) + "\n";
}

Store::Store(fs::path dir) : dir_(std::move(dir)) {}

std::vector<Manifest> Store::list() const {
  std::vector<Manifest> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename() != "manifest.json" || !it->is_regular_file()) continue;
    std::ifstream in(it->path());
    std::stringstream text;
    text << in.rdbuf();
    try {
      Manifest m = parse_manifest(text.str(), it->path().string());
      if (folder(ModelName{m.name, m.tag}) == it->path().parent_path()) out.push_back(std::move(m));
    } catch (const Error&) {  // a damaged manifest is not a model; `hayate rm` cannot name it either
    }
  }
  std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) { return a.full_name() < b.full_name(); });
  return out;
}

std::optional<Manifest> Store::find(const ModelName& n) const {
  const fs::path file = folder(n) / "manifest.json";
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return parse_manifest(text.str(), file.string());
}

void Store::save(const Manifest& m) const {
  const fs::path dir = folder(ModelName{m.name, m.tag});
  fs::create_directories(dir);
  write_file_atomically((dir / "manifest.json").string(), to_json(m));
}

Manifest Store::get(const ModelName& n) const {
  if (std::optional<Manifest> m = find(n)) return *m;
  std::string msg = "no model '" + n.full() + "' in the store " + dir_.string();
  const std::vector<std::string> close = close_names(n.full());
  for (size_t i = 0; i < close.size(); ++i) msg += (i == 0 ? "; did you mean " : ", ") + close[i];
  fail(ErrorKind::NotFound, msg);
}

Manifest Store::remove(const ModelName& n) const {
  const Manifest m = get(n);
  const fs::path dir = folder(n);
  // The manifest first: a model whose files are half removed is never listed.
  fs::remove(dir / "manifest.json");
  std::error_code ec;
  for (const ManifestFile& f : m.files)
    for (const char* suffix : {"", ".partial", ".partial.json"}) fs::remove(dir / (f.name + suffix), ec);
  for (fs::path p = dir; p != dir_ && fs::is_empty(p, ec) && !ec; p = p.parent_path()) fs::remove(p, ec);
  return m;
}

fs::path Store::model_file(const Manifest& m) const {
  const fs::path dir = folder(ModelName{m.name, m.tag});
  for (const ManifestFile& f : m.files)
    if (f.name.ends_with(".gguf")) return dir / f.name;
  fail(ErrorKind::BadInput, m.full_name() + ": the manifest names no .gguf file");
}

std::vector<std::string> Store::close_names(std::string_view text) const {
  std::vector<std::string> out;
  const std::string_view bare = text.substr(0, text.rfind(':'));
  for (const Manifest& m : list()) {
    const std::string full = m.full_name();
    if (m.name == bare || edit_distance(full, text) <= 3 || edit_distance(m.name, bare) <= 2 ||
        m.name.find(bare) != std::string::npos)
      out.push_back(full);
  }
  return out;
}

fs::path resolve_model(std::string_view name_or_path) {
  if (name_or_path.empty()) return {};
  std::error_code ec;
  if (fs::exists(fs::path(name_or_path), ec)) return fs::path(name_or_path);
  return resolve_model(name_or_path, Store(load_config().models_dir));
}

fs::path resolve_model(std::string_view name_or_path, const Store& store) {
  if (name_or_path.empty()) return {};
  std::error_code ec;
  const fs::path as_path(name_or_path);
  if (fs::exists(as_path, ec)) return as_path;
  if (!is_valid_name(name_or_path)) fail(ErrorKind::NotFound, std::string(name_or_path) + ": no such file");
  if (const std::optional<Manifest> m = store.find(parse_name(name_or_path))) return store.model_file(*m);
  std::string msg =
      std::string(name_or_path) + ": no such file, and no model of that name in the store " + store.dir().string();
  const std::vector<std::string> close = store.close_names(name_or_path);
  if (!close.empty()) {
    msg += "; close names:";
    for (const std::string& c : close) msg += " " + c;
  } else {
    msg += " (hayate list shows the store; hayate pull fetches a model)";
  }
  fail(ErrorKind::NotFound, msg);
}

}  // namespace hayate::store
