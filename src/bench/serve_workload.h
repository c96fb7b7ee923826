// What `hayate bench serve` asks the server: the request bodies of each workload. A workload hands
// out the next request of a stream (a concurrency slot, or an arrival in rate mode) and hears how
// it went (multi-turn chat keeps the assistant's answers in its history).
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/serve_client.h"

namespace hayate::bench {

struct WorkloadConfig {
  std::string name = "story";  // story, long, summary, chat, retention, mixed, fixed, jsonl, rag
  int32_t prompt_tokens = 0;   // fixed: exact prompt tokens (default 128); summary: document words (default 1000)
  int32_t max_tokens = 0;      // 0: the workload's default (workload_default_max_tokens)
  int turns = 10;              // chat, retention: turns per conversation before it starts again
  std::string file;            // jsonl: the file
  double temperature = 0.0;
  // Sends "ignore_eos": true (hayate, llama.cpp's server and vLLM honour it), so every answer is
  // max_tokens long and runs of different servers or settings do the same work.
  bool ignore_eos = false;
  uint64_t seed = 42;
};

int32_t workload_default_max_tokens(const std::string& name);

// One line of a JSONL workload: {"prompt": "..."} (sent to /v1/completions) or {"messages":
// [{"role": ..., "content": ...}, ...]} (sent to /v1/chat/completions), with an optional
// "max_tokens" (a positive integer) overriding --max-tokens.
struct JsonlItem {
  std::optional<std::string> prompt;
  nlohmann::json messages;  // null when prompt is set
  std::optional<int32_t> max_tokens;
};
// Blank lines are skipped. Throws Error(BadInput) "FILE:LINE: ..." naming the field that is
// wrong, or "FILE: no requests" for a file without any.
std::vector<JsonlItem> read_jsonl_workload(std::istream& in, const std::string& file_name);

// The text of a fixed-length prompt: `units` words and `pad` single punctuation characters, so
// that a calibration can step the token count up and down by one.
std::string synthetic_prompt_text(int32_t units, int32_t pad);

// The context-retention score of the retention workload: of the conversations that reached
// their last turn, how many answers contained the fact given in the first turn.
struct RetentionScore {
  int64_t conversations = 0, retained = 0;
  double share() const { return conversations > 0 ? static_cast<double>(retained) / conversations : 0.0; }
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual StreamRequest next(int64_t stream) = 0;
  virtual void completed(int64_t stream, const RequestResult& result) {}
  // A run starts: conversations and scores begin again, so each concurrency level stands alone.
  virtual void begin_run() {}
  // The score of the run so far, for workloads that score answers (retention).
  virtual std::optional<RetentionScore> retention() const { return std::nullopt; }
};

// The retention workload's fact of conversation `index`: a made-up name and a code of digits
// that no model can guess, and whether an answer gives the code back.
struct RetentionFact {
  std::string name, code;
};
RetentionFact retention_fact(uint64_t seed, int64_t index);
bool answer_retains(const std::string& answer, const RetentionFact& fact);

// `model` goes in every body; `fixed_prompt` is the calibrated text of the fixed workload.
// Throws Error(BadInput) for an unknown workload or an unreadable JSONL file.
std::unique_ptr<Workload> make_workload(const WorkloadConfig& config, const std::string& model,
                                        const std::string& fixed_prompt = "");

// The rag workload (rag_workload.cpp): questions as RAG chat against the collection kRagCollection,
// which the runner makes and fills with rag_corpus's documents (made-up towns with planted facts,
// [{"id", "text"}, ...]) before the runs.
inline constexpr const char* kRagCollection = "bench-rag";
nlohmann::json rag_corpus(uint64_t seed);
std::string rag_collection_body();  // the POST /v1/collections body that makes it
std::unique_ptr<Workload> make_rag_workload(const nlohmann::json& base, uint64_t seed);

// The common fields of a streamed request body: model, stream, stream_options.include_usage,
// max_tokens, temperature.
nlohmann::json stream_body(const std::string& model, int32_t max_tokens, double temperature, bool ignore_eos = false);

}  // namespace hayate::bench
