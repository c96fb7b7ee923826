#include "engine/request.h"

#include <utility>

namespace hayate {

Event error_event(ErrorKind kind, std::string message) {
  Event e;
  e.kind = Event::Error;
  e.finish_reason = FinishReason::Error;
  e.error_kind = kind;
  e.error = std::move(message);
  return e;
}

void validate_prompt(std::span<const int32_t> prompt, const RequestLimits& limits, std::string_view what) {
  const std::string name(what);
  if (prompt.empty()) fail(ErrorKind::BadInput, "the " + name + " is empty; give at least one token");
  if (static_cast<int64_t>(prompt.size()) > limits.n_ctx)
    fail(ErrorKind::BadInput, "the " + name + " has " + std::to_string(prompt.size()) +
                                  " tokens, over the context size of " + std::to_string(limits.n_ctx) + "; shorten it");
  if (limits.n_vocab > 0)
    for (int32_t t : prompt)
      if (t < 0 || t >= limits.n_vocab)
        fail(ErrorKind::BadInput, name + " token id " + std::to_string(t) + " is outside the vocabulary (size " +
                                      std::to_string(limits.n_vocab) + ")");
}

void validate_options(const GenerateOptions& options, int32_t min_tokens) {
  options.sampling.validate();
  if (options.max_tokens < min_tokens)
    fail(ErrorKind::BadInput,
         "max tokens must be at least " + std::to_string(min_tokens) + ", got " + std::to_string(options.max_tokens));
}

void validate_images(std::span<const EmbeddingRows> images, int32_t n_prompt, int32_t n_embd) {
  int32_t end = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const EmbeddingRows& im = images[i];
    const std::string which = "image " + std::to_string(i + 1);
    if (n_embd <= 0) fail(ErrorKind::Unsupported, "this model takes no images (" + which + " was given)");
    if (im.n_rows <= 0 || im.position < end || im.position > n_prompt - im.n_rows)
      fail(ErrorKind::BadInput, which + ": its " + std::to_string(im.n_rows) + " rows at position " +
                                    std::to_string(im.position) + " do not lie inside the " + std::to_string(n_prompt) +
                                    "-token prompt after the previous image");
    if (!im.data || im.data->size() != static_cast<size_t>(im.n_rows) * static_cast<size_t>(n_embd))
      fail(ErrorKind::BadInput, which + ": " + std::to_string(im.data ? im.data->size() : 0) + " floats, expected " +
                                    std::to_string(im.n_rows) + " rows of " + std::to_string(n_embd));
    end = im.position + im.n_rows;
  }
}

void validate(const Request& request, const RequestLimits& limits) {
  const bool embed = request.kind != RequestKind::Generate;  // Embed or Score
  validate_prompt(request.prompt, limits, embed ? "input" : "prompt");
  if (!embed) validate_options(request.options);
  if (embed && !request.images.empty()) fail(ErrorKind::Unsupported, "embedding requests take no images");
  if (request.prompt_logprobs && !request.images.empty())
    fail(ErrorKind::Unsupported, "prompt log-probabilities are not computed for prompts with images");
  validate_images(request.images, static_cast<int32_t>(request.prompt.size()), limits.n_embd);
}

std::optional<Event> RequestHandle::pop_locked() {
  if (events_.empty()) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::optional<Event> RequestHandle::next() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return !events_.empty() || final_queued_; });
  return pop_locked();
}

std::optional<Event> RequestHandle::next(std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return !events_.empty() || final_queued_; });
  return pop_locked();
}

RequestHandle::~RequestHandle() {
  if (!final_queued_) post_cancel();  // nobody is listening any more
}

void RequestHandle::post_cancel() {
  if (!inbox_) return;
  std::lock_guard lk(inbox_->mu);
  inbox_->ids.push_back(id_);
}

void RequestHandle::cancel() {
  {
    std::lock_guard lk(mu_);
    if (cancelled_ || final_queued_) return;
    cancelled_ = true;
  }
  post_cancel();
}

bool RequestHandle::cancelled() const {
  std::lock_guard lk(mu_);
  return cancelled_;
}

bool RequestHandle::finished() const {
  std::lock_guard lk(mu_);
  return final_queued_;
}

void RequestHandle::push(Event e) {
  std::function<void()> notify;
  {
    std::lock_guard lk(mu_);
    if (final_queued_) return;
    if (e.kind == Event::Done || e.kind == Event::Error) final_queued_ = true;
    events_.push_back(std::move(e));
    notify = notify_;
  }
  cv_.notify_all();
  if (notify) notify();
}

void RequestHandle::set_notify(std::function<void()> notify) {
  bool pending;
  {
    std::lock_guard lk(mu_);
    notify_ = notify;
    pending = !events_.empty();
  }
  if (pending && notify) notify();
}

}  // namespace hayate
