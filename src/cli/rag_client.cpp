#include "cli/rag_client.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <span>

#include "cli/common.h"
#include "core/base64.h"
#include "core/error.h"
#include "net/blocking_client.h"

namespace hayate::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

ErrorKind kind_of_status(int status) {
  if (status == 404) return ErrorKind::NotFound;
  if (status == 503) return ErrorKind::Unavailable;
  if (status >= 400 && status < 500) return ErrorKind::BadInput;
  return ErrorKind::Internal;
}

bool readable_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".pdf", ".html", ".htm", ".xhtml", ".md", ".markdown", ".txt", ".text", ".rst", ".json"})
    if (ext == e) return true;
  return false;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, path + ": cannot open it");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void draw_bar(size_t done, size_t total, uintmax_t bytes, uintmax_t total_bytes) {
  constexpr int kWidth = 30;
  const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
  std::fprintf(stderr, "\r[%s%s] %zu/%zu files, %s of %s ", std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), done, total,
               human_bytes(static_cast<size_t>(bytes)).c_str(), human_bytes(static_cast<size_t>(total_bytes)).c_str());
  std::fflush(stderr);
}

// One request with the files [begin, end); false (nothing stored) when the server refused it.
bool send_batch(RagClient& client, const std::string& collection, const std::vector<IngestFile>& files, size_t begin,
                size_t end, IngestSummary& s, bool report) {
  json docs = json::array();
  for (size_t i = begin; i < end; ++i) {
    const std::string bytes = read_bytes(files[i].path);
    docs.push_back({{"id", files[i].id},
                    {"name", files[i].id},
                    {"data", base64_encode(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))}});
  }
  json r;
  try {
    r = client.call("POST", "/v1/collections/" + collection + "/documents", {{"documents", docs}});
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput) throw;
    if (report) std::cerr << "\nhayate rag: " << files[begin].path << ": " << e.what() << "\n";
    return false;
  }
  for (const json& d : r.at("data")) {
    const std::string status = d.value("status", "");
    (status == "added" ? s.added : status == "replaced" ? s.replaced : s.unchanged) += 1;
    s.chunks += d.value("chunks", 0);
  }
  return true;
}

}  // namespace

RagClient::RagClient(const std::string& url, std::string api_key)
    : http_(std::make_unique<net::Client>(net::resolve(net::parse_api_url(url)))), api_key_(std::move(api_key)) {}

RagClient::~RagClient() = default;

json RagClient::call(const std::string& method, const std::string& path, const json& body) {
  net::Request req(method, path, {{"Content-Type", "application/json"}}, body.is_null() ? "" : body.dump());
  if (!api_key_.empty()) req.headers.emplace_back("Authorization", "Bearer " + api_key_);
  const net::Response res = http_->request(std::move(req));
  const json j = json::parse(res.body, nullptr, false);
  if (res.status >= 400) {
    const bool has_message = j.is_object() && j.contains("error") && j["error"].is_object() &&
                             j["error"].contains("message") && j["error"]["message"].is_string();
    fail(kind_of_status(res.status), http_->endpoint().url.at(path) + ": " + std::to_string(res.status) + " " +
                                         (has_message ? j["error"]["message"].get<std::string>() : res.body));
  }
  if (j.is_discarded()) fail(ErrorKind::Internal, http_->endpoint().url.at(path) + " answered no JSON");
  return j;
}

std::string url_escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::vector<IngestFile> find_ingest_files(const std::vector<std::string>& paths) {
  std::vector<IngestFile> out;
  for (const std::string& p : paths) {
    const fs::path root(p);
    if (fs::is_directory(root)) {
      std::vector<IngestFile> found;
      for (const fs::directory_entry& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file() && readable_extension(e.path()))
          found.push_back({e.path().string(), e.path().lexically_relative(root).generic_string(), e.file_size()});
      std::sort(found.begin(), found.end(), [](const IngestFile& a, const IngestFile& b) { return a.id < b.id; });
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(root)) {
      // A file named on the command line is sent whatever its extension: the server says if it cannot read it.
      out.push_back({root.string(), root.filename().string(), fs::file_size(root)});
    } else {
      fail(ErrorKind::NotFound, p + ": no such file or directory");
    }
  }
  return out;
}

IngestSummary ingest_files(RagClient& client, const std::string& collection, const std::vector<IngestFile>& files,
                           size_t batch_bytes, bool progress) {
  IngestSummary s;
  uintmax_t total_bytes = 0, sent_bytes = 0;
  for (const IngestFile& f : files) total_bytes += f.size;
  size_t begin = 0;
  while (begin < files.size()) {
    size_t end = begin + 1;
    uintmax_t bytes = files[begin].size;
    while (end < files.size() && bytes + files[end].size <= batch_bytes) bytes += files[end++].size;
    if (!send_batch(client, collection, files, begin, end, s, end - begin == 1)) {
      if (end - begin == 1)
        ++s.failed;
      else
        for (size_t i = begin; i < end; ++i)
          if (!send_batch(client, collection, files, i, i + 1, s, true)) ++s.failed;
    }
    sent_bytes += bytes;
    begin = end;
    if (progress) draw_bar(begin, files.size(), sent_bytes, total_bytes);
  }
  if (progress) std::fputc('\n', stderr);
  return s;
}

void run_rag_chat(const RagChatOptions& o) {
  if (o.url.empty()) fail(ErrorKind::BadInput, "chat --rag answers from a server's collection: give its --url");
  RagClient client(o.url, o.api_key);
  client.call("GET", "/v1/collections/" + o.collection);  // an unknown collection fails before the first turn
  json messages = json::array();
  if (!o.system.empty()) messages.push_back({{"role", "system"}, {"content", o.system}});
  std::cerr << "hayate chat: answers from collection " << o.collection << " at " << o.url << "; /exit to quit\n";
  std::string line;
  while (true) {
    std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const json body = {{"messages", messages},
                       {"max_tokens", o.max_tokens},
                       {"temperature", o.temperature},
                       {"rag", {{"collection", o.collection}, {"top_k", o.top_k}}}};
    const json r = client.call("POST", "/v1/chat/completions", body);
    const std::string answer = r.at("choices").at(0).at("message").value("content", "");
    std::cout << answer << "\n";
    for (const json& c : r.value("citations", json::array())) {
      const std::string section = c.value("section", "");
      std::cout << "  [" << c.value("index", 0) << "] " << c.value("document_id", "")
                << (section.empty() ? "" : " # " + section) << "\n";
    }
    // The sources are the server's, per turn: the history keeps only what was said.
    messages.push_back({{"role", "assistant"}, {"content", answer}});
  }
}

}  // namespace hayate::cli
