// `hayate pull`: a source into the store. Sources:
//   http(s)://.../file.gguf      one file; the name is --name or the file's stem
//   http(s)://.../manifest.json  a manifest (name, tag, files with sha256), files beside it
//   owner/repo/file.gguf         Hugging Face: <hf_base>/owner/repo/resolve/main/file.gguf
//   name[:tag]                   the mirror: <mirror>/<name>/<tag>/manifest.json, files beside it
// Each file goes to `<file>.partial` in the model's folder (resumed if an earlier pull left one),
// is checked against its sha256 (the manifest's, --sha256, or the server's), synced and renamed;
// a mismatch deletes the partial file. The manifest is written last.
#pragma once

#include <functional>
#include <string>

#include "store/store.h"

namespace hayate::store {

struct PullOptions {
  std::string name;    // the store name for a URL or Hugging Face source (default: from the file)
  std::string sha256;  // expected checksum of a single-file source
  std::function<void(const std::string& file, uint64_t done, uint64_t total)> on_progress;
};

// What a source names: files with where to get them and, when known, their checksums.
Manifest resolve_source(const std::string& source, const StoreConfig& config, const PullOptions& options);

Manifest pull(const std::string& source, const StoreConfig& config, const PullOptions& options);

}  // namespace hayate::store
