#include "store/pull.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "core/error.h"
#include "net/blocking_client.h"
#include "net/url.h"
#include "store/download.h"

namespace hayate::store {
namespace fs = std::filesystem;

namespace {

bool is_url(const std::string& s) { return s.starts_with("http://") || s.starts_with("https://"); }

std::string without_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// The last path segment of a URL, decoded, without its query.
std::string file_of(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  return net::percent_decoded(path.substr(path.rfind('/') + 1));
}

// A store name made from a file name: lower case, other characters as '-'.
std::string name_from_file(const std::string& file) {
  std::string stem = fs::path(file).stem().string(), out;
  for (char c : stem) {
    const unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) || c == '.' || c == '_' || c == '-' ? static_cast<char>(std::tolower(u)) : '-';
  }
  return out.empty() ? "model" : out;
}

std::string fetch_text(const std::string& url, const std::string& token) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme + 3);
  net::Client client(net::resolve(net::parse_url(url.substr(0, slash))));
  net::Headers headers = {{"User-Agent", "hayate-pull/0.1"}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  const net::Response r =
      client.request(net::Request("GET", slash == std::string::npos ? "/" : url.substr(slash), headers));
  if (r.status == 404) fail(ErrorKind::NotFound, url + ": 404 Not Found (no such manifest on the server)");
  if (r.status != 200) fail(ErrorKind::BadInput, url + ": the server answered HTTP " + std::to_string(r.status));
  return r.body;
}

// A manifest at `url`; its files without a URL lie beside it.
Manifest remote_manifest(const std::string& url, const std::string& token, const std::string& source) {
  Manifest m = parse_manifest(fetch_text(url, token), url, true);
  const std::string dir = url.substr(0, url.substr(0, url.find('?')).rfind('/') + 1);
  for (ManifestFile& f : m.files)
    if (f.url.empty()) f.url = dir + f.name;
  m.source = source;
  return m;
}

Manifest single_file(const std::string& url, const std::string& file, const std::string& default_name,
                     const PullOptions& o) {
  Manifest m;
  const ModelName n = parse_name(o.name.empty() ? default_name : o.name);
  m.name = n.name;
  m.tag = n.tag;
  ManifestFile f;
  f.name = file;
  f.url = url;
  f.sha256 = o.sha256;
  m.files.push_back(f);
  return m;
}

}  // namespace

Manifest resolve_source(const std::string& source, const StoreConfig& c, const PullOptions& o) {
  if (!o.sha256.empty() &&
      (o.sha256.size() != 64 || o.sha256.find_first_not_of("0123456789abcdef") != std::string::npos))
    fail(ErrorKind::BadInput, "--sha256 '" + o.sha256 + "': expected 64 lower-case hex digits");
  Manifest m;
  if (is_url(source)) {
    net::parse_url(source.substr(0, source.find_first_of("?#")));  // a clear error for a malformed URL
    const std::string file = file_of(source);
    if (file.ends_with(".json")) {
      m = remote_manifest(source, c.hf_token, source);
      if (!o.name.empty()) {
        const ModelName n = parse_name(o.name);
        m.name = n.name;
        m.tag = n.tag;
      }
    } else {
      if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
        fail(ErrorKind::BadInput, source + ": the URL names no file");
      m = single_file(source, file, name_from_file(file), o);
    }
  } else if (source.ends_with(".gguf") && std::count(source.begin(), source.end(), '/') >= 2) {
    const size_t second = source.find('/', source.find('/') + 1);
    const std::string repo = source.substr(0, second), path = source.substr(second + 1);
    const std::string url = without_slash(c.hf_base) + "/" + repo + "/resolve/main/" + path;
    m = single_file(url, fs::path(path).filename().string(), name_from_file(path), o);
  } else {
    const ModelName n = parse_name(source);
    if (c.mirror.empty())
      fail(ErrorKind::BadInput, "'" + source +
                                    "' is a model name, and no mirror is set to look it up in (set mirror in "
                                    "store.toml or HAYATE_MIRROR; or pull a URL or owner/repo/file.gguf)");
    m = remote_manifest(without_slash(c.mirror) + "/" + n.name + "/" + n.tag + "/manifest.json", c.hf_token, source);
    if (m.name.empty() || !o.name.empty()) {
      const ModelName named = o.name.empty() ? n : parse_name(o.name);
      m.name = named.name;
      m.tag = named.tag;
    }
  }
  if (m.source.empty()) m.source = source;
  if (m.name.empty()) fail(ErrorKind::BadInput, source + ": the manifest names no model; give one with --name");
  return m;
}

// Each file of `m` into `dir`, checked; sizes and checksums filled in.
static void fetch_files(Manifest& m, const fs::path& dir, const StoreConfig& c, const PullOptions& o) {
  DownloadOptions d;
  d.token = c.hf_token;
  d.connections = c.connections;
  d.parallel_min_bytes = c.parallel_min_bytes;
  for (ManifestFile& f : m.files) {
    const fs::path final_path = dir / f.name, partial = dir / (f.name + ".partial");
    if (!f.sha256.empty() && fs::exists(final_path) && sha256_file(final_path) == f.sha256) {
      f.size = fs::file_size(final_path);
      continue;  // already here, and whole
    }
    if (o.on_progress) d.on_progress = [&](uint64_t done, uint64_t total) { o.on_progress(f.name, done, total); };
    const Downloaded got = download(f.url, partial, d);
    if (f.size != 0 && got.size != f.size) {
      fs::remove(partial);
      fail(ErrorKind::BadInput, f.url + ": " + std::to_string(got.size) + " bytes where the manifest says " +
                                    std::to_string(f.size) + "; the partial file was deleted");
    }
    const std::string sha = sha256_file(partial);
    const std::string& expected = f.sha256.empty() ? got.server_sha256 : f.sha256;
    if (!expected.empty() && sha != expected) {
      fs::remove(partial);
      fail(ErrorKind::BadInput, f.url + ": sha256 " + sha + " does not match the expected " + expected +
                                    "; the download was deleted (a damaged or changed file; pull again)");
    }
    fs::rename(partial, final_path);
    f.sha256 = sha;
    f.size = got.size;
  }
}

Manifest pull(const std::string& source, const StoreConfig& c, const PullOptions& o) {
  Manifest m = resolve_source(source, c, o);
  const Store store(c.models_dir);
  const fs::path dir = store.folder(ModelName{m.name, m.tag});
  fs::create_directories(dir);
  try {
    fetch_files(m, dir, c, o);
  } catch (...) {
    std::error_code ec;  // folders made for nothing go; a partial file (to resume) keeps its own
    for (fs::path p = dir; p != store.dir() && fs::is_empty(p, ec) && !ec; p = p.parent_path()) fs::remove(p, ec);
    throw;
  }
  m.pulled =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  store.save(m);
  return m;
}

}  // namespace hayate::store
