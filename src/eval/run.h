// Running a Suite: workers (one LanguageModel each) take items in turn, every finished item is
// appended to the results file at once, a restart skips the items already there, and the
// summary (its schema is in docs/eval.md) is what `hayate report` reads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/suite.h"

namespace hayate::eval {

// A JSONL file of item records, appended to as items finish. Opening an existing file reads its
// records; a torn last line (no newline, or not JSON: a run killed mid-write) is cut off so the
// item runs again. A bad line before the last, a record without "id", or one of another suite
// is an Error(BadInput) naming the line.
class ResultsFile {
 public:
  ResultsFile(std::string path, const std::string& suite);
  const std::map<std::string, nlohmann::json>& existing() const { return existing_; }
  void append(const nlohmann::json& record);  // thread-safe; flushed before it returns

 private:
  std::string path_;
  std::map<std::string, nlohmann::json> existing_;
  std::mutex mu_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
};

struct RunOptions {
  std::string out;        // results file; "" keeps records in memory only
  bool progress = false;  // a bar on stderr (the CLI turns it on for a TTY)
  size_t limit = 0;       // only the first N items (0: all)
};

struct RunResult {
  std::vector<nlohmann::json> records;  // one per item, in file order
  size_t resumed = 0, ran = 0;
  double seconds = 0;      // this run's, resumed items not counted
  std::string started_at;  // UTC, ISO 8601
};

// Runs the items not in the results file on models.size() workers. An item's error stops the
// run (the finished items stay in the file) and is rethrown.
RunResult run_suite(Suite& suite, const std::vector<LanguageModel*>& models, const RunOptions& options);

// Who answered, for the summary.
struct Provenance {
  std::string model, format, server, file;
};

nlohmann::ordered_json summary_json(const Suite& suite, const RunResult& result, const Provenance& who);

}  // namespace hayate::eval
