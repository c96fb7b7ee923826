// A request to the serving engine and the stream of events it answers with: a generation yields
// Token events, an embedding one Embedding event, and either ends with one Done or Error event.
// Also the one check of what a request asks for, used at every door (Engine::submit,
// Scheduler::add, Session::generate).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "engine/output.h"
#include "model/batch.h"

namespace hayate {

enum class RequestKind {
  Generate,  // sample up to options.max_tokens ids after the prompt
  Embed,     // the prompt's embedding: the mean of its final hidden states, L2-normalised
  // A cross-encoder's relevance score of the prompt (a query-document pair, encode_pair), with
  // token_types: one Embedding event whose vector holds the score. Rerank models only.
  Score,
};

struct Request {
  std::vector<int32_t> prompt;  // Embed: the ids to embed
  GenerateOptions options;      // Generate only
  bool logprobs = false;        // fill Event::sample's alternatives (options.sampling.n_logprobs of them)
  // Generate only: first a PromptLogprobs event, the log-probability of each prompt id after the
  // ones before it (with options.sampling.n_logprobs alternatives), as `hayate eval` scores text.
  // max_tokens may then be 0: the prompt is only scored.
  bool prompt_logprobs = false;
  RequestKind kind = RequestKind::Generate;
  // Generate only: image features fed in place of the prompt's placeholder tokens at their
  // positions (sorted, not overlapping). The placeholders count as prompt tokens in Usage.
  std::vector<EmbeddingRows> images = {};
  std::vector<int32_t> token_types = {};  // Score: one per prompt id
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_tokens = 0;  // prompt tokens whose KV came from the prefix cache (first admission)
};

struct Event {
  enum Kind { Token, Embedding, PromptLogprobs, Done, Error } kind = Token;
  int32_t token = -1;                               // Token
  std::string text;                                 // Token: text safe to show now, possibly empty
  SampleResult sample{};                            // Token: the id and its log-probability
  std::vector<float> embedding;                     // Embedding
  std::vector<SampleResult> prompt_logprobs;        // PromptLogprobs: prompt ids 1.. (the first has none)
  FinishReason finish_reason = FinishReason::Stop;  // Done: Stop, Length or Cancelled; Error: Error
  Usage usage;                                      // Done and Error
  ErrorKind error_kind = ErrorKind::Internal;       // Error: decides the HTTP status and exit code
  std::string error;                                // Error: what went wrong
};

// An Error event (finish reason Error).
Event error_event(ErrorKind kind, std::string message);

struct RequestLimits {
  int32_t n_ctx;        // the longest prompt
  int32_t n_vocab = 0;  // ids must lie below it; 0: not checked
  int32_t n_embd = 0;   // width of image rows; 0: a request with images is refused
};
// Error(BadInput) naming what is wrong: an empty prompt, one over n_ctx, an id outside the
// vocabulary. `what` names the ids in the message ("prompt", "input").
void validate_prompt(std::span<const int32_t> prompt, const RequestLimits& limits, std::string_view what = "prompt");
// Error(BadInput) for bad sampling options or max_tokens below min_tokens.
void validate_options(const GenerateOptions& options, int32_t min_tokens = 0);
// Error(BadInput) unless the images lie inside the prompt in order, each with n_rows x n_embd floats.
void validate_images(std::span<const EmbeddingRows> images, int32_t n_prompt, int32_t n_embd);
// The prompt, and for a generation its options and images.
void validate(const Request& request, const RequestLimits& limits);

// The ids of requests whose clients cancelled them or dropped their handles, for the engine to
// end at its next step: the loop reads only these, never every live request.
struct CancelInbox {
  std::mutex mu;
  std::vector<int64_t> ids;
};

// One request's stream of events, ending with one Done or Error. Shared between the client and
// the engine; a client that drops its handle cancels the request.
class RequestHandle {
 public:
  explicit RequestHandle(int64_t id, std::shared_ptr<CancelInbox> inbox = {}) : id_(id), inbox_(std::move(inbox)) {}
  ~RequestHandle();
  RequestHandle(const RequestHandle&) = delete;
  RequestHandle& operator=(const RequestHandle&) = delete;

  // The next event, waiting for it (up to `timeout`); nullopt on timeout, or at once after the
  // final event has been read.
  std::optional<Event> next();
  std::optional<Event> next(std::chrono::milliseconds timeout);
  // The engine ends the request at its next step (a Done event with reason Cancelled).
  void cancel();
  bool cancelled() const;
  bool finished() const;  // the final event is queued (it may not be read yet)
  int64_t id() const { return id_; }

  void push(Event e);  // the engine's side

  // Called (on the engine's thread, without locks held) after each event is queued, so an
  // asynchronous reader (the HTTP server) can wake up instead of blocking in next(). Called at
  // once if events are already waiting.
  void set_notify(std::function<void()> notify);

 private:
  std::optional<Event> pop_locked();
  void post_cancel();

  const int64_t id_;
  const std::shared_ptr<CancelInbox> inbox_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool final_queued_ = false;
  bool cancelled_ = false;
  std::function<void()> notify_;
};

}  // namespace hayate
