// The suite runner, its results file and its summary (run.h).
#include "eval/run.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <thread>

#include "core/clock.h"
#include "core/error.h"

namespace hayate::eval {

using nlohmann::json;

ResultsFile::ResultsFile(std::string path, const std::string& suite) : path_(std::move(path)) {
  std::ifstream in(path_, std::ios::binary);
  std::string text = in ? std::string(std::istreambuf_iterator<char>(in), {}) : std::string();
  size_t keep = 0, line_no = 0;
  for (size_t at = 0; at < text.size();) {
    ++line_no;
    const size_t nl = text.find('\n', at);
    const bool last = nl == std::string::npos || text.find_first_not_of(" \t\r\n", nl) == std::string::npos;
    const std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    const std::string where = path_ + ":" + std::to_string(line_no);
    if (nl == std::string::npos) break;  // torn: written without its newline
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        if (last) break;
        fail(ErrorKind::BadInput, where + ": not JSON; is this a results file of `hayate eval`?");
      }
      if (!j.is_object() || !j.contains("id") || !j["id"].is_string())
        fail(ErrorKind::BadInput, where + ": a record without a string \"id\"");
      if (j.value("suite", "") != suite)
        fail(ErrorKind::BadInput,
             where + ": a record of suite \"" + j.value("suite", "") + "\", not \"" + suite + "\"; give another --out");
      std::string id = j["id"].get<std::string>();
      existing_[std::move(id)] = std::move(j);
    }
    at = nl + 1;
    keep = at;
  }
  if (keep < text.size()) std::fprintf(stderr, "hayate eval: %s: dropping a torn last line\n", path_.c_str());
  if (in) {
    in.close();
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text.substr(0, keep);
  }
  file_.reset(std::fopen(path_.c_str(), "ab"));
  if (!file_) fail(ErrorKind::BadInput, path_ + ": cannot open for appending");
}

void ResultsFile::append(const json& record) {
  const std::string line = record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() || std::fflush(file_.get()) != 0)
    fail(ErrorKind::ResourceExhausted, path_ + ": write failed");
}

Shares record_shares(const std::vector<json>& records) {
  size_t hit = 0, none = 0;
  for (const json& r : records) {
    hit += r.value("correct", false);
    none += r.contains("extracted") && r["extracted"].is_null();
  }
  const double n = static_cast<double>(std::max<size_t>(1, records.size()));
  return {static_cast<double>(hit) / n, static_cast<double>(none) / n};
}

namespace {

double score_of(const json& record) {
  const auto it = record.find("score");
  return it != record.end() && it->is_number() ? it->get<double>() : 0.0;
}

void draw_progress(const std::string& name, size_t done, size_t total, double score_sum, double seconds) {
  constexpr int kWidth = 30;
  const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %zu/%zu  score %.3f  %.0f s ", name.c_str(), bar.c_str(), done, total,
               done ? score_sum / static_cast<double>(done) : 0.0, seconds);
  std::fflush(stderr);
}

}  // namespace

RunResult run_suite(Suite& suite, const std::vector<LanguageModel*>& models, const RunOptions& options) {
  if (models.empty()) fail(ErrorKind::Internal, "run_suite: no models");
  const size_t total = options.limit ? std::min(options.limit, suite.size()) : suite.size();
  std::unique_ptr<ResultsFile> file;
  if (!options.out.empty()) file = std::make_unique<ResultsFile>(options.out, suite.name());

  RunResult result;
  result.records.resize(total);
  std::vector<size_t> todo;
  double score_sum = 0;
  for (size_t i = 0; i < total; ++i) {
    const std::string id = suite.id(i);
    if (file && file->existing().count(id)) {
      result.records[i] = file->existing().at(id);
      score_sum += score_of(result.records[i]);
      ++result.resumed;
    } else {
      todo.push_back(i);
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  result.started_at = utc_timestamp();
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;  // guards score_sum, done, error and the progress line
  size_t done = result.resumed;
  std::exception_ptr error;
  if (options.progress) draw_progress(suite.name(), done, total, score_sum, 0);
  auto work = [&](LanguageModel* model) {
    for (size_t k; !stop && (k = next.fetch_add(1)) < todo.size();) {
      const size_t i = todo[k];
      try {
        json record = {{"id", suite.id(i)}, {"suite", suite.name()}};
        record.update(suite.run(i, *model));
        if (file) file->append(record);
        std::lock_guard lock(mu);
        score_sum += score_of(record);
        result.records[i] = std::move(record);
        ++done;
        if (options.progress) draw_progress(suite.name(), done, total, score_sum, seconds_since(t0));
      } catch (...) {
        std::lock_guard lock(mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  std::vector<std::thread> workers;
  const size_t n_workers = std::min(models.size(), std::max<size_t>(1, todo.size()));
  for (size_t w = 1; w < n_workers; ++w) workers.emplace_back(work, models[w]);
  work(models[0]);
  for (std::thread& t : workers) t.join();
  if (options.progress) std::fprintf(stderr, "\n");
  if (error) std::rethrow_exception(error);
  result.ran = todo.size();
  result.seconds = seconds_since(t0);
  return result;
}

nlohmann::ordered_json summary_json(const Suite& suite, const RunResult& result, const Provenance& who) {
  nlohmann::ordered_json j;
  j["schema"] = "hayate.eval.summary/1";
  j["suite"] = suite.name();
  j["model"] = who.model;
  j["format"] = who.format;
  j["server"] = who.server;
  j["file"] = who.file;
  j["metrics"] = suite.metrics(result.records);
  j["items"] = result.records.size();
  j["items_run"] = result.ran;
  j["items_resumed"] = result.resumed;
  j["wall_s"] = result.seconds;
  j["started_at"] = result.started_at;
  j["settings"] = suite.settings();
  return j;
}

}  // namespace hayate::eval
