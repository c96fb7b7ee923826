// `hayate cache stats|clear`: what a server's caches hold, in the store they live in (a Redis the
// servers share, or the file a memory cache is kept in between runs), and emptying them.
#include <iostream>

#include "cache/cache.h"
#include "cache/memory_store.h"
#include "cli/common.h"
#include "core/error.h"

namespace hayate::cli {
namespace {

struct CacheOptions {
  std::string store = "memory";
  std::string file;
};

// The caches `hayate serve` keeps (server/response_cache.h and server/rag_cache.h name them).
const char* const kCacheNames[] = {"response", "embedding", "search"};

std::shared_ptr<cache::Store> open_store(const CacheOptions& o) {
  if (o.store == "memory" && o.file.empty())
    fail(ErrorKind::BadInput,
         "a memory cache lives in its server's process; give the file it is kept in (--file, the server's "
         "--cache-persist) or a shared store (--store redis://HOST:PORT)");
  cache::MemoryLimits limits;
  limits.max_entries = 0;  // read the whole file, whatever the server's limits were
  limits.persist_path = o.file;
  return cache::make_store(o.store, limits);
}

void run_stats(const CacheOptions& o) {
  const std::shared_ptr<cache::Store> store = open_store(o);
  std::cout << "store: " << store->name() << (o.file.empty() ? "" : " (" + o.file + ")") << "\n";
  for (const char* name : kCacheNames) {
    const cache::StoreStats s = store->stats(std::string("hayate:") + name + ":");
    if (!s.available) fail(ErrorKind::Unavailable, store->name() + " does not answer");
    std::cout << name << ": " << s.entries << " entries, " << human_bytes(static_cast<size_t>(s.bytes)) << "\n";
  }
}

void run_clear(const CacheOptions& o) {
  const std::shared_ptr<cache::Store> store = open_store(o);
  if (!store->stats("hayate:").available) fail(ErrorKind::Unavailable, store->name() + " does not answer");
  const int64_t n = store->clear("hayate:");
  std::cout << "cleared " << n << " entries from " << store->name() << "\n";
}

void add_store_options(CLI::App* cmd, CacheOptions& o) {
  cmd->add_option("--store", o.store, "memory (with --file) or redis://HOST:PORT[/DB], as `hayate serve --cache`")
      ->capture_default_str();
  cmd->add_option("--file", o.file, "the memory cache's file (the server's --cache-persist)");
}

}  // namespace

void add_cache_command(CLI::App& app) {
  auto o = std::make_shared<CacheOptions>();
  CLI::App* cmd = app.add_subcommand("cache", "Statistics of the server's caches, or empty them");
  cmd->require_subcommand(1);
  CLI::App* stats = cmd->add_subcommand("stats", "entries and bytes per cache");
  add_store_options(stats, *o);
  stats->callback([o] { run_stats(*o); });
  CLI::App* clear = cmd->add_subcommand("clear", "remove every entry of hayate's caches from the store");
  add_store_options(clear, *o);
  clear->callback([o] { run_clear(*o); });
}

}  // namespace hayate::cli
