// /v1/embeddings: one engine request of kind Embed per input, read as events like a generation's
// while the connection's coroutine waits without blocking.
#include <chrono>

#include "core/error.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using namespace std::chrono_literals;

struct Input {
  std::shared_ptr<RequestHandle> handle;
  std::vector<float> vector;
  bool done = false;
};

void cancel_all(std::vector<Input>& inputs) {
  for (Input& in : inputs)
    if (!in.done) in.handle->cancel();
}

}  // namespace

awaitable<std::optional<std::vector<std::vector<float>>>> embed_all(Exchange& ex, ServerState& st, Service& svc,
                                                                    std::vector<std::vector<int32_t>> ids,
                                                                    bool micro_batch) {
  std::vector<Request> requests;
  for (auto& input : ids) {
    Request r;
    r.kind = RequestKind::Embed;
    r.prompt = std::move(input);
    requests.push_back(std::move(r));
  }
  std::vector<Input> inputs;
  std::vector<std::shared_ptr<RequestHandle>> handles =
      co_await submit_requests(st.micro_batcher(), svc.engine(), std::move(requests), micro_batch);
  for (auto& h : handles) inputs.push_back({std::move(h), {}, false});
  for (Input& in : inputs) ex.watch(*in.handle);
  size_t n_done = 0;
  while (n_done < inputs.size()) {
    for (Input& in : inputs)
      while (!in.done) {
        std::optional<Event> e = in.handle->next(0ms);
        if (!e) break;
        if (e->kind == Event::Embedding) {
          in.vector = std::move(e->embedding);
        } else if (e->kind == Event::Error) {
          cancel_all(inputs);
          throw Error(e->error_kind, e->error);
        } else if (e->kind == Event::Done) {
          in.done = true;
          ++n_done;
        }
      }
    if (n_done == inputs.size()) break;
    const Wake w = co_await ex.wait();
    if (w == Wake::PeerGone) {
      cancel_all(inputs);
      co_return std::nullopt;
    }
    if (w == Wake::Timeout) {
      cancel_all(inputs);
      throw request_timed_out(st.config());  // (thrown, not awaited: dispatch answers it)
    }
  }
  std::vector<std::vector<float>> vectors;
  for (Input& in : inputs) vectors.push_back(std::move(in.vector));
  co_return vectors;
}

awaitable<> handle_embeddings(Exchange& ex, ServerState& st) {
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  const api::EmbeddingRequest req = api::parse_embedding_request(ex.request().body);
  svc->check_model(req.model);
  ex.model = svc->model_id();
  std::vector<std::vector<int32_t>> ids = req.input_ids;
  for (const std::string& text : req.inputs) ids.push_back(svc->tokenizer().encode(text, true, true));
  if (req.dimensions && *req.dimensions != svc->n_embd())
    throw api::ApiError(400,
                        "This model's embeddings have " + std::to_string(svc->n_embd()) +
                            " dimensions and cannot be shortened to " + std::to_string(*req.dimensions),
                        "invalid_request_error", "dimensions");
  int32_t total = 0;
  for (const auto& input : ids) {
    svc->check_prompt(input, "input", "input");
    total += static_cast<int32_t>(input.size());
  }
  ex.prompt_tokens = total;
  const std::optional<std::vector<std::vector<float>>> vectors = co_await embed_all(ex, st, *svc, std::move(ids), true);
  if (!vectors) co_return;
  std::string body = api::embeddings_json(svc->model_id(), *vectors, req.encoding_format, total);
  co_await ex.respond(200, std::move(body));
}

}  // namespace hayate::server
