// `hayate rag`: a server's retrieval collections from the command line. With --url every command
// goes through the server's /v1/collections API (embedding needs the server's model); with --dir
// the commands that need no embedding (list, stats, delete, remove) open the collections database
// of a stopped server directly. `ingest` walks files and directories, sends the files (PDF, HTML,
// Markdown, text, JSON) in batches with a progress bar on a terminal, and re-sending a changed file
// replaces its document (its id is its path), an unchanged one is left as it is.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/rag_client.h"
#include "core/error.h"
#include "rag/collections.h"

namespace hayate::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct RagOptions {
  std::string url, dir, api_key;
  std::string name;
  std::string metric = "cosine", index = "Flat";
  int32_t nprobe = 0, ef_search = 0;
  std::vector<std::string> paths;  // ingest: files and directories; remove: document ids
  std::string query;
  int32_t top_k = 5;
  size_t batch_bytes = 512u << 10;
  bool json_out = false;
};

bool local(const RagOptions& o) {
  if (o.url.empty() == o.dir.empty())
    fail(ErrorKind::BadInput,
         "give the server's --url, or the --dir of a stopped server's collections (--collections-dir)");
  if (!o.dir.empty() && !fs::exists(fs::path(o.dir) / "collections.db"))
    fail(ErrorKind::NotFound, o.dir + " holds no collections (no collections.db): give a server's --collections-dir");
  return !o.dir.empty();
}

void need_server(const RagOptions& o, const char* command) {
  if (local(o))
    fail(ErrorKind::BadInput, std::string("`hayate rag ") + command +
                                  "` embeds text with the server's model: run `hayate serve --collections-dir " +
                                  o.dir + "` and pass its --url instead of --dir");
}

void print_collection(const json& c) {
  std::cout << c.value("id", "") << ": " << c.value("documents", 0) << " documents, " << c.value("chunks", 0)
            << " chunks, " << c.value("metric", "") << " " << c.value("index", "") << ", " << c.value("dimensions", 0)
            << "-d " << c.value("model", "") << "\n";
}

json local_collection(rag::Collections& c, const rag::CollectionInfo& info) {
  const rag::CollectionStats st = c.store().stats(info.name);
  return {{"id", info.name},     {"metric", rag::metric_name(info.metric)},
          {"index", info.index}, {"dimensions", info.dim},
          {"model", info.model}, {"documents", st.documents},
          {"chunks", st.chunks}};
}

void run_list(const RagOptions& o) {
  json list = json::array();
  if (local(o)) {
    rag::Collections c(o.dir);
    for (const rag::CollectionInfo& info : c.store().list_collections()) list.push_back(local_collection(c, info));
  } else {
    list = RagClient(o.url, o.api_key).call("GET", "/v1/collections").at("data");
  }
  if (o.json_out) std::cout << list.dump(2) << "\n";
  for (const json& c : list)
    if (!o.json_out) print_collection(c);
  if (list.empty() && !o.json_out) std::cout << "no collections\n";
}

void run_stats(const RagOptions& o) {
  json c;
  if (local(o)) {
    rag::Collections cs(o.dir);
    c = local_collection(cs, cs.require(o.name));
  } else {
    c = RagClient(o.url, o.api_key).call("GET", "/v1/collections/" + o.name);
  }
  if (o.json_out)
    std::cout << c.dump(2) << "\n";
  else
    print_collection(c);
}

void run_create(const RagOptions& o) {
  need_server(o, "create");
  json body = {{"name", o.name}, {"metric", o.metric}, {"index", o.index}};
  if (o.nprobe > 0) body["nprobe"] = o.nprobe;
  if (o.ef_search > 0) body["ef_search"] = o.ef_search;
  print_collection(RagClient(o.url, o.api_key).call("POST", "/v1/collections", body));
}

void run_delete(const RagOptions& o) {
  if (local(o)) {
    if (!rag::Collections(o.dir).delete_collection(o.name))
      fail(ErrorKind::NotFound, "collection '" + o.name + "' does not exist in " + o.dir);
  } else {
    RagClient(o.url, o.api_key).call("DELETE", "/v1/collections/" + o.name);
  }
  std::cout << "deleted collection " << o.name << "\n";
}

void run_remove(const RagOptions& o) {
  std::optional<rag::Collections> cs;
  std::optional<RagClient> client;
  if (local(o))
    cs.emplace(o.dir);
  else
    client.emplace(o.url, o.api_key);
  for (const std::string& id : o.paths) {
    if (cs) {
      cs->require(o.name);
      if (!cs->store().delete_document(o.name, id))
        fail(ErrorKind::NotFound, "collection '" + o.name + "' has no document '" + id + "'");
    } else {
      client->call("DELETE", "/v1/collections/" + o.name + "/documents/" + url_escaped(id));
    }
    std::cout << "removed " << id << "\n";
  }
}

void run_search(const RagOptions& o) {
  need_server(o, "search");
  const json r = RagClient(o.url, o.api_key)
                     .call("POST", "/v1/collections/" + o.name + "/search", {{"query", o.query}, {"top_k", o.top_k}});
  if (o.json_out) {
    std::cout << r.dump(2) << "\n";
    return;
  }
  int rank = 0;
  for (const json& hit : r.at("data")) {
    std::cout << "[" << ++rank << "] " << hit.value("score", 0.0) << "  " << hit.value("document_id", "")
              << (hit.value("section", "").empty() ? "" : " # " + hit.value("section", "")) << "\n  "
              << hit.value("text", "") << "\n";
  }
  if (rank == 0) std::cout << "no results\n";
}

void run_ingest(const RagOptions& o) {
  need_server(o, "ingest");
  const std::vector<IngestFile> files = find_ingest_files(o.paths);
  if (files.empty()) fail(ErrorKind::BadInput, "no PDF, HTML, Markdown, text or JSON files under the given paths");
  RagClient client(o.url, o.api_key);
  client.call("GET", "/v1/collections/" + o.name);  // a missing collection fails before any upload
  const IngestSummary s = ingest_files(client, o.name, files, o.batch_bytes, ::isatty(2) != 0);
  std::cout << "ingested " << files.size() - s.failed << " of " << files.size() << " files into " << o.name << ": "
            << s.added << " added, " << s.replaced << " replaced, " << s.unchanged << " unchanged, " << s.chunks
            << " chunks\n";
  if (s.failed > 0)
    fail(ErrorKind::BadInput, std::to_string(s.failed) + " file(s) were refused (listed above); the others are stored");
}

void add_target_options(CLI::App* cmd, RagOptions& o) {
  cmd->add_option("--url", o.url, "the server, e.g. http://127.0.0.1:8080");
  cmd->add_option("--dir", o.dir, "a stopped server's --collections-dir (list, stats, delete, remove)");
  cmd->add_option("--api-key", o.api_key, "the server's API key")->envname("HAYATE_API_KEY");
  cmd->add_flag("--json", o.json_out, "print the server's JSON");
}

}  // namespace

void add_rag_command(CLI::App& app) {
  auto o = std::make_shared<RagOptions>();
  CLI::App* cmd = app.add_subcommand("rag", "Retrieval collections: create, list, stats, delete, ingest, search");
  cmd->require_subcommand(1);
  const auto sub = [&](const char* name, const char* help, void (*run)(const RagOptions&), bool named = true) {
    CLI::App* s = cmd->add_subcommand(name, help);
    add_target_options(s, *o);
    if (named) s->add_option("collection", o->name, "the collection")->required();
    s->callback([o, run] { run(*o); });
    return s;
  };
  CLI::App* create = sub("create", "create a collection of the server's model's embeddings", run_create);
  create->add_option("--metric", o->metric, "cosine, ip or l2")->capture_default_str();
  create->add_option("--index", o->index, "a FAISS factory string: Flat, IVF1024,Flat, HNSW32, IVF4096,PQ32")
      ->capture_default_str();
  create->add_option("--nprobe", o->nprobe, "IVF: lists searched per query");
  create->add_option("--ef-search", o->ef_search, "HNSW: the candidate list's length");
  sub("list", "the collections, with their documents and chunks", run_list, false);
  sub("stats", "one collection's documents, chunks, metric and index", run_stats);
  sub("delete", "delete a collection and everything in it", run_delete);
  CLI::App* ingest =
      sub("ingest", "add files and directories (recursively): PDF, HTML, Markdown, text, JSON", run_ingest);
  ingest->add_option("paths", o->paths, "files and directories")->required()->check(CLI::ExistingPath);
  ingest->add_option("--batch-bytes", o->batch_bytes, "most file bytes sent in one request")->capture_default_str();
  CLI::App* remove = sub("remove", "delete documents by id (an ingested file's id is its path)", run_remove);
  remove->add_option("ids", o->paths, "document ids")->required();
  CLI::App* search = sub("search", "the chunks closest to a query", run_search);
  search->add_option("query", o->query, "the query text")->required();
  search->add_option("-k,--top-k", o->top_k, "how many chunks")->capture_default_str();
}

}  // namespace hayate::cli
