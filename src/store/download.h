// One file over HTTP(S) into a partial file, through net/'s client: resumable, in parallel ranges
// when it is big and the server takes Range requests.
//
// Beside `partial` lies `<partial>.json`, written before the first byte: the URL, the server's
// validator (a strong ETag, else Last-Modified), the size, and each range with the bytes it has.
// A later download of the same file finds it and asks only for the missing bytes (Range from each
// range's end; one range: from the partial file's size) when the server still names the same
// validator and size; otherwise it starts over. A connection cut mid-body is resumed the same
// way within the call, a few times, before the call fails and leaves both files for the next one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace hayate::store {

struct DownloadOptions {
  std::string token;  // "Authorization: Bearer" to the URL's own host (never after a redirect elsewhere)
  int connections = 4;
  uint64_t parallel_min_bytes = 64ull << 20;  // smaller files take one connection
  int retries = 3;                            // per range, in a row without progress
  uint64_t request_bytes = 64ull << 20;       // most bytes one request asks for
  // A request's deadline (a stalled connection fails then and is resumed): 64 MiB in 10 minutes
  // is 110 KB/s. A server without Range support gets 36 times as long for the whole file.
  double timeout_seconds = 600;
  // Called on the calling thread at the start (with the bytes resumed), about ten times a second
  // and at the end; total is 0 when the server did not say.
  std::function<void(uint64_t done, uint64_t total)> on_progress;
};

struct Downloaded {
  uint64_t size = 0;
  // A sha256 the server vouched for (Hugging Face's X-Linked-Etag or a 64-hex ETag); empty if none.
  std::string server_sha256;
};

// Error(NotFound) naming the URL for a 404; Error(BadInput) for 401/403 (saying to set a token)
// and other statuses; the network's errors as net/ raises them. On success `partial` is complete
// and synced and the sidecar is gone.
Downloaded download(const std::string& url, const std::filesystem::path& partial, const DownloadOptions& options);

std::string sha256_file(const std::filesystem::path& file);  // 64 lower-case hex digits

}  // namespace hayate::store
