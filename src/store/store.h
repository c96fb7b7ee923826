// The model store (issue 20): a folder of models pulled by `hayate pull`, each known by a name
// `name[:tag]` and described by a manifest (docs in README, "Models").
//
// Layout: <models_dir>/<name>/<tag>/manifest.json beside the model's files. A name is one or
// more segments of [A-Za-z0-9._-] joined by '/' ("qwen3-0.6b", "team/demo"); a tag is one
// segment ("latest" when none is given). A file is written under its final name only after its
// sha256 matched (store/pull.h), so a manifest never names a half file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::store {

// Where the store is and how pulls reach the network. Sources, later winning: defaults, the
// TOML file (HAYATE_STORE_CONFIG, else $XDG_CONFIG_HOME/hayate/store.toml or
// ~/.config/hayate/store.toml, when it exists), then the environment.
struct StoreConfig {
  std::filesystem::path models_dir;                // HAYATE_MODELS / models_dir; default $XDG_DATA_HOME/hayate/models
  std::string mirror;                              // HAYATE_MIRROR / mirror: base URL that NAME pulls resolve against
  std::string hf_base = "https://huggingface.co";  // HAYATE_HF_BASE / hf_base: owner/repo/file.gguf pulls
  std::string hf_token;                            // HAYATE_HF_TOKEN / hf_token: sent as a bearer token
  int connections = 4;                             // HAYATE_PULL_CONNECTIONS / pull_connections
  uint64_t parallel_min_bytes = 64ull << 20;       // HAYATE_PULL_PARALLEL_MIN / pull_parallel_min_bytes
};
StoreConfig load_config();
std::filesystem::path default_models_dir();

struct ModelName {
  std::string name;
  std::string tag = "latest";
  std::string full() const { return name + ":" + tag; }
};
// Error(BadInput) saying which part of `text` is not a name[:tag].
ModelName parse_name(std::string_view text);
bool is_valid_name(std::string_view text);

struct ManifestFile {
  std::string name;  // a plain file name inside the model's folder
  uint64_t size = 0;
  std::string sha256;  // 64 lower-case hex digits
  std::string url;     // where it came from (empty in a mirror's manifest: beside the manifest)
};

struct Manifest {
  std::string name;
  std::string tag = "latest";
  std::string source;  // what was pulled: a URL, a mirror name or owner/repo/file
  int64_t pulled = 0;  // seconds since the epoch
  std::vector<ManifestFile> files;
  std::string full_name() const { return name + ":" + tag; }
};
// Error(BadInput) naming `what` and the field that is missing or wrong. With `remote`, name/tag
// and per-file sizes/urls may be absent (a mirror's manifest gives files and checksums).
Manifest parse_manifest(std::string_view json, std::string_view what, bool remote = false);
std::string to_json(const Manifest& m);

class Store {
 public:
  explicit Store(std::filesystem::path dir);
  const std::filesystem::path& dir() const { return dir_; }

  std::filesystem::path folder(const ModelName& n) const { return dir_ / n.name / n.tag; }
  std::vector<Manifest> list() const;  // sorted by full name; unreadable manifests are skipped
  std::optional<Manifest> find(const ModelName& n) const;
  // find, or Error(NotFound) naming the store and close names.
  Manifest get(const ModelName& n) const;
  void save(const Manifest& m) const;  // atomically
  // Error(NotFound) with close names when `n` is not in the store.
  Manifest remove(const ModelName& n) const;
  // The file a model runs from: its first .gguf file.
  std::filesystem::path model_file(const Manifest& m) const;
  // Stored names within a small edit distance of `text`, or sharing its name part.
  std::vector<std::string> close_names(std::string_view text) const;

 private:
  std::filesystem::path dir_;
};

// What `-m` takes: an existing path is that path; else a name in the store (load_config()'s);
// else Error(NotFound) saying neither, with close names. Empty stays empty (the default model).
std::filesystem::path resolve_model(std::string_view name_or_path);
std::filesystem::path resolve_model(std::string_view name_or_path, const Store& store);

}  // namespace hayate::store
