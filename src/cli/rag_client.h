// What `hayate rag` and `hayate chat --rag` share: a JSON client of a server's API whose error
// answers become hayate Errors carrying the server's message, and the ingest of files in batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hayate::net {
class Client;
}

namespace hayate::cli {

class RagClient {
 public:
  RagClient(const std::string& url, std::string api_key);
  ~RagClient();
  // The answer's JSON. An HTTP error is an Error of the status's kind (404: NotFound, 413 and
  // other 4xx: BadInput, 503: Unavailable, others: Internal) with the server's message.
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr);

 private:
  std::unique_ptr<net::Client> http_;
  std::string api_key_;
};

// A path segment with everything but unreserved characters %XX-escaped.
std::string url_escaped(const std::string& s);

struct IngestFile {
  std::string path;  // to read
  std::string id;    // the document id: the path below the directory given, or the file's name
  uintmax_t size = 0;
};
// The files of the given paths that doc/ reads, directories walked recursively, in name order.
std::vector<IngestFile> find_ingest_files(const std::vector<std::string>& paths);

struct IngestSummary {
  int64_t added = 0, replaced = 0, unchanged = 0, chunks = 0;
  size_t failed = 0;  // files the server refused (each reported on stderr)
};
// Sends the files in requests of about batch_bytes; a refused request is sent again one file at
// a time, so one bad file does not keep the others out. `progress`: a bar on stderr.
IngestSummary ingest_files(RagClient& client, const std::string& collection, const std::vector<IngestFile>& files,
                           size_t batch_bytes, bool progress);

struct RagChatOptions {
  std::string url, api_key, collection, system;
  int32_t top_k = 4;
  int32_t max_tokens = 512;
  float temperature = 0.8f;
};
// `hayate chat --rag COLLECTION`: turns read from stdin answered by the server's RAG chat, each
// answer followed by its numbered sources.
void run_rag_chat(const RagChatOptions& o);

}  // namespace hayate::cli
