#include "store/download.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "net/blocking_client.h"

namespace hayate::store {
namespace fs = std::filesystem;

namespace {

// A URL cut into what net/ connects to and what the request asks for (with its query).
struct Target {
  std::string url;
  std::string origin;  // scheme://authority
  std::string path;    // "/a/b?x=y"
};

Target split_url(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) fail(ErrorKind::BadInput, "URL " + url + ": expected http(s)://HOST[:PORT]/PATH");
  const size_t slash = url.find_first_of("/?#", scheme + 3);
  Target t{url, url.substr(0, slash), slash == std::string::npos ? "/" : url.substr(slash)};
  if (const size_t hash = t.path.find('#'); hash != std::string::npos) t.path.resize(hash);
  if (t.path.front() == '?') t.path.insert(0, "/");
  return t;
}

// What the first answer said about the file.
struct Head {
  Target target;  // after redirects
  bool send_token = false;
  uint64_t total = 0;
  bool size_known = false;
  bool ranges = false;
  std::string validator;  // strong ETag, else Last-Modified
  std::string server_sha256;
};

std::unique_ptr<net::Client> client_for(const Target& t, double timeout_seconds) {
  net::ClientOptions co;
  co.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  return std::make_unique<net::Client>(net::resolve(net::parse_url(t.origin)), co);
}

net::Request get(const Head& h, const DownloadOptions& o, const std::string& range) {
  net::Headers headers = {{"User-Agent", "hayate-pull/0.1"}, {"Accept-Encoding", "identity"}};
  if (!range.empty()) headers.emplace_back("Range", range);
  if (!range.empty() && !h.validator.empty()) headers.emplace_back("If-Range", h.validator);
  if (h.send_token && !o.token.empty()) headers.emplace_back("Authorization", "Bearer " + o.token);
  return net::Request("GET", h.target.path, std::move(headers));
}

[[noreturn]] void status_error(const std::string& url, int status) {
  if (status == 404) fail(ErrorKind::NotFound, url + ": 404 Not Found (no such file on the server)");
  if (status == 401 || status == 403)
    fail(ErrorKind::BadInput, url + ": HTTP " + std::to_string(status) +
                                  " (a private or gated model needs a token: set HAYATE_HF_TOKEN or hf_token)");
  fail(ErrorKind::BadInput, url + ": the server answered HTTP " + std::to_string(status));
}

std::string unquoted(std::string s) {
  if (s.starts_with("W/")) return "";
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool is_sha256(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// "bytes A-B/TOTAL" → A and TOTAL (TOTAL 0 and false when '*').
std::optional<std::pair<uint64_t, uint64_t>> content_range(const std::string& v) {
  unsigned long long a = 0, b = 0, total = 0;
  if (std::sscanf(v.c_str(), "bytes %llu-%llu/%llu", &a, &b, &total) == 3) return std::make_pair(a, total);
  return std::nullopt;
}

// Asks for the first byte, following redirects, to learn the size and whether ranges work.
Head probe(const std::string& url, const DownloadOptions& o) {
  Head h;
  h.target = split_url(url);
  h.send_token = true;
  const std::string first_origin = h.target.origin;
  for (int hops = 0;; ++hops) {
    auto client = client_for(h.target, o.timeout_seconds);
    const net::Response r = client->start(get(h, o, "bytes=0-0"));
    client->close();
    if (r.status >= 300 && r.status < 400 && !r.header("location").empty()) {
      if (hops == 8) fail(ErrorKind::BadInput, url + ": more than 8 redirects");
      std::string loc = r.header("location");
      if (loc.starts_with("/")) loc = h.target.origin + loc;
      h.target = split_url(loc);
      h.send_token = h.target.origin == first_origin;  // a CDN's signed URL needs no token, and gets none
      continue;
    }
    if (r.status == 206) {
      const auto cr = content_range(r.header("content-range"));
      if (!cr) fail(ErrorKind::BadInput, h.target.url + ": a 206 answer without a usable Content-Range");
      h.total = cr->second;
      h.size_known = h.ranges = true;
    } else if (r.status == 200) {
      if (const std::string cl = r.header("content-length"); !cl.empty()) {
        h.total = std::stoull(cl);
        h.size_known = true;
      }
    } else if (r.status == 416) {  // "bytes=0-0" of an empty file
      h.size_known = true;
    } else {
      status_error(h.target.url, r.status);
    }
    h.validator = unquoted(r.header("etag"));
    if (h.validator.empty())
      h.validator = r.header("last-modified");
    else
      h.validator = "\"" + h.validator + "\"";
    for (const char* name : {"x-linked-etag", "etag"})
      if (const std::string v = unquoted(r.header(name)); is_sha256(v) && h.server_sha256.empty()) h.server_sha256 = v;
    return h;
  }
}

struct Range {
  uint64_t start = 0, end = 0;  // [start, end)
  std::atomic<uint64_t> done{0};
};

struct Sidecar {
  std::string validator;
  uint64_t total = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // start, end
  std::vector<uint64_t> done;
};

std::optional<Sidecar> read_sidecar(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  try {
    Sidecar s;
    s.validator = j.at("validator").get<std::string>();
    s.total = j.at("size").get<uint64_t>();
    for (const auto& r : j.at("ranges")) {
      s.ranges.emplace_back(r.at(0).get<uint64_t>(), r.at(1).get<uint64_t>());
      s.done.push_back(std::min(r.at(2).get<uint64_t>(), s.ranges.back().second - s.ranges.back().first));
    }
    if (s.ranges.empty()) return std::nullopt;
    return s;
  } catch (const std::exception&) {  // damaged: start over
    return std::nullopt;
  }
}

void write_sidecar(const fs::path& p, const std::string& url, const Head& h,
                   const std::vector<std::unique_ptr<Range>>& rs) {
  nlohmann::json ranges = nlohmann::json::array();
  for (const auto& r : rs) ranges.push_back({r->start, r->end, r->done.load()});
  const nlohmann::json j = {{"url", url}, {"validator", h.validator}, {"size", h.total}, {"ranges", ranges}};
  write_file_atomically(p.string(), j.dump() + "\n");
}

void write_at(int fd, const std::string& data, uint64_t offset, const fs::path& file) {
  for (size_t put = 0; put < data.size();) {
    const ssize_t n = ::pwrite(fd, data.data() + put, data.size() - put, static_cast<off_t>(offset + put));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      fail(errno == ENOSPC ? ErrorKind::ResourceExhausted : ErrorKind::BadInput,
           file.string() + ": cannot write: " + std::strerror(errno));
    put += static_cast<size_t>(n);
  }
}

// One range to its end in requests of at most o.request_bytes, each under its own deadline, so
// a stalled connection is noticed; a cut or stalled request is resumed from the bytes it got,
// up to o.retries times in a row without progress.
void fetch_range(const Head& h, Range& r, int fd, const fs::path& file, const DownloadOptions& o,
                 const std::atomic<bool>& stop) {
  for (int failures = 0;;) {
    bool network = true;  // a failure of the connection, which a new request may get past
    try {
      const uint64_t from = r.start + r.done.load();
      if (h.size_known && from >= r.end) return;
      const uint64_t to = h.ranges ? std::min(r.end, from + o.request_bytes) : r.end;  // exclusive
      const std::string range = h.ranges ? "bytes=" + std::to_string(from) + "-" + std::to_string(to - 1) : "";
      auto client = client_for(h.target, o.timeout_seconds * (h.ranges ? 1 : 36));
      const net::Response head = client->start(get(h, o, range));
      uint64_t at = from;
      network = false;
      if (head.status == 206) {
        const auto cr = content_range(head.header("content-range"));
        if (!cr || cr->first != from || (h.size_known && cr->second != h.total))
          fail(ErrorKind::BadInput, h.target.url + ": the server sent the bytes '" + head.header("content-range") +
                                        "' for the request " + range);
      } else if (head.status == 200) {
        if (from != 0 || r.start != 0)  // If-Range failed: the file changed under us
          fail(ErrorKind::BadInput, h.target.url + ": the file changed on the server during the pull; pull again");
      } else {
        status_error(h.target.url, head.status);
      }
      for (;;) {
        network = true;
        const std::string piece = client->next();
        network = false;
        if (piece.empty() || stop) break;
        if (h.size_known && at + piece.size() > to)
          fail(ErrorKind::BadInput, h.target.url + ": the server sent more bytes than were asked for");
        write_at(fd, piece, at, file);
        at += piece.size();
        r.done = at - r.start;
        failures = 0;
      }
      if (stop) return;
      if (!h.size_known) {
        r.end = at;
        return;
      }
      network = true;
      if (at < to)
        fail(ErrorKind::NotFound, h.target.url + ": the connection ended " + std::to_string(to - at) + " bytes early");
    } catch (const Error&) {
      if (!network || ++failures > o.retries || stop) throw;
      if (!h.ranges) r.done = 0;  // no Range support: only a fresh start can go on
    }
  }
}

// The partial file, open for writing, closed however the download ends.
struct FileHandle {
  explicit FileHandle(const fs::path& p) : fd(::open(p.c_str(), O_WRONLY | O_CREAT, 0644)) {
    if (fd < 0) fail(ErrorKind::BadInput, p.string() + ": cannot open: " + std::strerror(errno));
  }
  ~FileHandle() { ::close(fd); }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd;
};

// The range threads, stopped and joined however the download ends (an exception included).
struct Workers {
  std::vector<std::thread> threads;
  std::atomic<bool>& stop;
  void join() {
    for (std::thread& t : threads)
      if (t.joinable()) t.join();
  }
  ~Workers() {
    stop = true;
    join();
  }
};

}  // namespace

std::string sha256_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, file.string() + ": cannot open to check its sha256");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

Downloaded download(const std::string& url, const fs::path& partial, const DownloadOptions& o) {
  const Head h = probe(url, o);
  const fs::path sidecar_path = partial.string() + ".json";
  std::vector<std::unique_ptr<Range>> ranges;
  const std::optional<Sidecar> old = h.ranges && fs::exists(partial) ? read_sidecar(sidecar_path) : std::nullopt;
  const bool resume = old && old->validator == h.validator && old->total == h.total;
  if (resume) {
    for (size_t i = 0; i < old->ranges.size(); ++i) {
      ranges.push_back(std::make_unique<Range>());
      ranges.back()->start = old->ranges[i].first;
      ranges.back()->end = old->ranges[i].second;
      ranges.back()->done = old->done[i];
    }
    if (ranges.size() == 1)  // what reached the disk, whatever the sidecar last said
      ranges[0]->done = std::min<uint64_t>(fs::file_size(partial), h.total);
  } else {
    const uint64_t n = h.ranges && h.total >= o.parallel_min_bytes && o.connections > 1
                           ? std::min<uint64_t>(o.connections, std::max<uint64_t>(h.total >> 20, 1))
                           : 1;
    for (uint64_t i = 0; i < n; ++i) {
      ranges.push_back(std::make_unique<Range>());
      ranges.back()->start = h.total * i / n;
      ranges.back()->end = h.size_known ? h.total * (i + 1) / n : UINT64_MAX;
    }
  }
  fs::create_directories(partial.parent_path());
  const FileHandle file(partial);
  // Two pulls of one file would write over each other: the second is refused (the lock goes with fd).
  if (::flock(file.fd, LOCK_EX | LOCK_NB) != 0)
    fail(ErrorKind::Busy, partial.string() + ": another pull is writing this file; wait for it to end");
  if (!resume && ::ftruncate(file.fd, 0) != 0)
    fail(ErrorKind::BadInput, partial.string() + ": cannot truncate: " + std::strerror(errno));
  if (h.ranges) write_sidecar(sidecar_path, url, h, ranges);

  const auto done_bytes = [&] {
    uint64_t sum = 0;
    for (const auto& r : ranges) sum += r->done;
    return sum;
  };
  if (o.on_progress) o.on_progress(done_bytes(), h.total);  // the start, with what an earlier pull left
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::exception_ptr first_error;
  std::condition_variable all_done;
  size_t finished = 0;  // under mu
  Workers workers{{}, stop};
  for (auto& r : ranges)
    workers.threads.emplace_back([&, range = r.get()] {
      try {
        fetch_range(h, *range, file.fd, partial, o, stop);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
        stop = true;
      }
      std::lock_guard<std::mutex> lock(mu);
      ++finished;
      all_done.notify_one();
    });
  auto last_sidecar = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (all_done.wait_for(lock, std::chrono::milliseconds(100), [&] { return finished == ranges.size(); })) break;
    }
    if (o.on_progress) o.on_progress(done_bytes(), h.total);
    if (h.ranges && std::chrono::steady_clock::now() - last_sidecar > std::chrono::seconds(2)) {
      write_sidecar(sidecar_path, url, h, ranges);
      last_sidecar = std::chrono::steady_clock::now();
    }
  }
  workers.join();
  if (first_error) {
    if (h.ranges) write_sidecar(sidecar_path, url, h, ranges);
    std::rethrow_exception(first_error);
  }
  if (::fsync(file.fd) != 0)
    fail(ErrorKind::ResourceExhausted, partial.string() + ": fsync failed: " + std::strerror(errno));
  std::error_code ec;
  fs::remove(sidecar_path, ec);
  Downloaded d;
  d.size = h.size_known ? h.total : done_bytes();
  d.server_sha256 = h.server_sha256;
  if (o.on_progress) o.on_progress(d.size, h.size_known ? h.total : d.size);
  return d;
}

}  // namespace hayate::store
