// /v1/rerank and /v1/score. A bert cross-encoder (a reranker model) scores each (query, document)
// pair itself: the score is its classifier's raw logit, as llama.cpp's rerank reports. With a
// chat model the pair is put to it as a question, with only the first tokens of "yes" and "no"
// allowed as its answer; the score is the probability of "yes" between the two (the sampled
// token's log-probability over the masked row).
#include "api/rerank.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "tokenizer/pair.h"
#include "server/routes.h"

namespace hayate::server {
namespace {

using namespace std::chrono_literals;

class YesOrNo : public Constraint {
 public:
  YesOrNo(int32_t yes, int32_t no) : yes_(yes), no_(no) {}
  void mask(std::span<float> logits) override {
    for (size_t i = 0; i < logits.size(); ++i)
      if (static_cast<int32_t>(i) != yes_ && static_cast<int32_t>(i) != no_)
        logits[i] = -std::numeric_limits<float>::infinity();
  }
  bool accept(int32_t) override { return true; }

 private:
  int32_t yes_, no_;
};

int32_t first_token(const Tokenizer& tok, const std::string& text) {
  const std::vector<int32_t> ids = tok.encode(text, false, false);
  if (ids.empty()) fail(ErrorKind::Internal, "rerank: '" + text + "' encodes to no token");
  return ids[0];
}

awaitable<> cross_score(Exchange& ex, ServerState& st, bool score) {
  const auto svc = co_await acquire_service(ex, st);
  if (!svc) co_return;
  const api::RerankRequest req = api::parse_rerank_request(ex.request().body, score);
  svc->check_model(req.model);
  ex.model = svc->model_id();
  const bool cross_encoder = svc->model().encoder != nullptr;
  const int32_t yes = cross_encoder ? -1 : first_token(svc->tokenizer(), "yes");
  const int32_t no = cross_encoder ? -1 : first_token(svc->tokenizer(), "no");
  std::vector<std::shared_ptr<RequestHandle>> handles;
  int32_t total = 0;
  try {
    for (size_t i = 0; i < req.documents.size(); ++i) {
      const std::string& query = req.queries.size() == 1 ? req.queries[0] : req.queries[i];
      if (cross_encoder) {  // a bert reranker scores the pair itself: its raw logit
        const EncodedPair pair = encode_pair(svc->tokenizer(), query, req.documents[i]);
        svc->check_prompt(pair.ids, "document", score ? "text_2" : "documents");
        total += static_cast<int32_t>(pair.ids.size());
        Request r;
        r.kind = RequestKind::Score;
        r.prompt = pair.ids;
        r.token_types = pair.types;
        handles.push_back(svc->engine().submit(std::move(r)));
        continue;
      }
      api::ChatMessage m;
      m.role = "user";
      m.content = "Query: " + query + "\nDocument: " + req.documents[i] +
                  "\nDoes the document answer the query? Answer yes or no.";
      m.raw = {{"role", "user"}, {"content", m.content}};
      Request r;
      r.prompt = svc->tokenizer().encode(svc->render_chat({m}, nlohmann::json::object()), false, true);
      svc->check_prompt(r.prompt, "document", score ? "text_2" : "documents");
      total += static_cast<int32_t>(r.prompt.size());
      r.options.max_tokens = 1;
      r.options.sampling.temperature = 0;
      r.options.constraint = [yes, no] { return std::make_unique<YesOrNo>(yes, no); };
      handles.push_back(svc->engine().submit(std::move(r)));
    }
  } catch (...) {
    for (auto& h : handles) h->cancel();
    throw;
  }
  ex.prompt_tokens = total;
  for (auto& h : handles) ex.watch(*h);
  std::vector<float> scores(handles.size(), 0.0f);
  std::vector<bool> done(handles.size(), false);
  size_t n_done = 0;
  auto cancel_all = [&] {
    for (size_t i = 0; i < handles.size(); ++i)
      if (!done[i]) handles[i]->cancel();
  };
  while (n_done < handles.size()) {
    for (size_t i = 0; i < handles.size(); ++i)
      while (!done[i]) {
        std::optional<Event> e = handles[i]->next(0ms);
        if (!e) break;
        if (e->kind == Event::Embedding && !e->embedding.empty()) {
          scores[i] = e->embedding[0];
        } else if (e->kind == Event::Token) {
          const float p = std::exp(e->sample.logprob);
          scores[i] = e->sample.id == yes ? p : 1.0f - p;
        } else if (e->kind == Event::Error) {
          cancel_all();
          throw Error(e->error_kind, e->error);
        } else if (e->kind == Event::Done) {
          done[i] = true;
          ++n_done;
        }
      }
    if (n_done == handles.size()) break;
    const Wake w = co_await ex.wait();
    if (w == Wake::PeerGone) co_return cancel_all();
    if (w == Wake::Timeout) {
      cancel_all();
      throw request_timed_out(st.config());
    }
  }
  const int64_t created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string body = score ? api::score_json(api::new_request_id("score-"), created, svc->model_id(), scores, total)
                           : api::rerank_json(api::new_request_id("rerank-"), svc->model_id(), req, scores, total);
  co_await ex.respond(200, std::move(body));
}

}  // namespace

awaitable<> handle_rerank(Exchange& ex, ServerState& st) { co_await cross_score(ex, st, false); }
awaitable<> handle_score(Exchange& ex, ServerState& st) { co_await cross_score(ex, st, true); }

}  // namespace hayate::server
