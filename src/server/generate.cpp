// /v1/chat/completions and /v1/completions: tokenize, submit one engine request per choice, then
// collect (or stream) their events while the connection's coroutine waits without blocking.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "core/error.h"
#include "image/image.h"
#include "server/images.h"
#include "server/rag_chat.h"
#include "server/response_cache.h"
#include "server/routes.h"
#include "server/structured.h"

namespace hayate::server {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// One prompt of a request (completions may send several), as tokens, with its echo text.
struct Prompt {
  std::vector<int32_t> ids;
  std::string text;                        // for echo
  std::vector<EmbeddingRows> images = {};  // chat with image_url parts: rows at their placeholder tokens
};

struct Job {
  bool chat = true;
  std::vector<Prompt> prompts;
  int32_t n = 1;
  std::optional<int32_t> max_tokens;  // nullopt: up to the context
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool logprobs = false;
  bool ignore_eos = false;
  bool prompt_logprobs = false;  // completions with echo and logprobs: the prompt's own, first
  bool stream = false, include_usage = false, echo = false;
  std::function<std::unique_ptr<Constraint>()> constraint;  // structured output, logit_bias
  // Chat: how the text splits into content, reasoning_content and tool_calls.
  ToolFormat tool_format = ToolFormat::Json;
  std::vector<std::string> tool_names;  // empty: no tool calls are parsed
  api::ReasoningFormat reasoning = api::ReasoningFormat::Split;
  std::string cache_key;  // non-empty: the answer goes into the response cache under it
  nlohmann::json extra;   // RAG: citations and timings, added to the response (streams: a last chunk)
  // RAG with the semantic cache on: where the answer goes in it once computed.
  struct SemanticSlot {
    std::string collection, context;
    int64_t version = 0;
    std::vector<float> query;
  };
  std::optional<SemanticSlot> semantic;
};

// The generation's time among the extra fields' timings, which the request's log line repeats.
void finish_timings(nlohmann::json& extra, double generation_ms, Exchange& ex) {
  if (!extra.contains("timings")) return;
  extra["timings"]["generation_ms"] = generation_ms;
  ex.log_fields = rag_log_fields(extra["timings"], extra.value("cache", nlohmann::json::object()));
}

// The response body with the job's extra fields.
std::string with_extra(const std::string& body, nlohmann::json extra, double generation_ms, Exchange& ex) {
  nlohmann::json j = nlohmann::json::parse(body);
  finish_timings(extra, generation_ms, ex);
  j.update(extra);
  return j.dump();
}

// A stream's chunk with the extra fields and no choices (as the usage chunk).
std::string extra_chunk(const std::string& id, int64_t created, const std::string& model, nlohmann::json extra,
                        double generation_ms, Exchange& ex) {
  nlohmann::json j = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model}};
  j["choices"] = nlohmann::json::array();
  finish_timings(extra, generation_ms, ex);
  j.update(extra);
  return "data: " + j.dump() + "\n\n";
}

// One choice: an engine request and what it has produced so far.
struct Sequence {
  std::shared_ptr<RequestHandle> handle;
  size_t prompt = 0;
  api::Choice choice;
  Usage usage;
  bool done = false, saw_token = false;
  std::optional<Error> error;
  Clock::time_point last_token;
  int32_t text_offset = 0;                 // bytes of choice.text already streamed
  std::optional<OutputSplitter> splitter;  // chat only
};

constexpr uint64_t kRandomSeed = SamplingParams{}.seed;

api::TokenLogprob to_logprob(const Tokenizer& tok, const SampleResult& s) {
  api::TokenLogprob lp;
  lp.token = tok.token_to_piece(s.id, true);
  lp.logprob = s.logprob;
  lp.bytes.assign(lp.token.begin(), lp.token.end());
  for (const TokenLogprob& alt : s.top) lp.top.emplace_back(tok.token_to_piece(alt.id, true), alt.logprob);
  return lp;
}

// The echoed prompt's tokens: the first has no logprob (NaN: null on the wire), each other the
// engine's score of it after those before. Each token's bytes as decoding spells them (no
// special-token names, no SentencePiece space in front), so that together they are the echoed text.
std::vector<api::TokenLogprob> prompt_token_logprobs(const Tokenizer& tok, const std::vector<int32_t>& ids,
                                                     const std::vector<SampleResult>& scores) {
  std::vector<api::TokenLogprob> out;
  StreamDecoder spell(tok);
  for (size_t t = 0; t < ids.size(); ++t) {
    api::TokenLogprob lp;
    lp.token = spell.piece(ids[t]);
    lp.bytes.assign(lp.token.begin(), lp.token.end());
    lp.logprob = std::numeric_limits<float>::quiet_NaN();
    if (t > 0 && t - 1 < scores.size()) {
      lp.logprob = scores[t - 1].logprob;
      for (const TokenLogprob& alt : scores[t - 1].top)
        lp.top.emplace_back(tok.token_to_piece(alt.id, true), alt.logprob);
    }
    out.push_back(std::move(lp));
  }
  return out;
}

// Every choice's engine request and its Sequence, in the same order.
std::vector<Request> requests_for(Service& svc, const Job& job, std::vector<Sequence>& seqs) {
  std::vector<Request> requests;
  int32_t index = 0;
  for (size_t p = 0; p < job.prompts.size(); ++p) {
    for (int32_t i = 0; i < job.n; ++i, ++index) {
      Request r;
      r.prompt = job.prompts[p].ids;
      r.images = job.prompts[p].images;
      // Without max_tokens, up to the context (where the engine stops with "length").
      r.options.max_tokens = job.max_tokens.value_or(std::max(1, svc.n_ctx() - static_cast<int32_t>(r.prompt.size())));
      r.options.sampling = job.sampling;
      if (job.sampling.seed != kRandomSeed) r.options.sampling.seed = job.sampling.seed + static_cast<uint64_t>(index);
      r.options.stop = job.stop;
      r.options.ignore_eos = job.ignore_eos;
      r.options.constraint = job.constraint;
      r.logprobs = job.logprobs;
      r.prompt_logprobs = job.prompt_logprobs;
      requests.push_back(std::move(r));
      Sequence s;
      s.prompt = p;
      if (job.chat) s.splitter.emplace(job.tool_format, job.tool_names, job.reasoning);
      if (job.echo) s.choice.text = job.prompts[p].text;
      seqs.push_back(std::move(s));
    }
  }
  return requests;
}

api::Usage total_usage(const Job& job, const std::vector<Sequence>& seqs) {
  api::Usage u;
  for (const Prompt& p : job.prompts) u.prompt_tokens += static_cast<int32_t>(p.ids.size());
  std::vector<bool> counted(job.prompts.size(), false);
  for (const Sequence& s : seqs) {
    u.completion_tokens += s.usage.completion_tokens;
    if (!counted[s.prompt]) u.cached_tokens += s.usage.cached_tokens;  // the prompt's first choice
    counted[s.prompt] = true;
  }
  return u;
}

class Generation {
 public:
  Generation(Exchange& ex, Service& svc, ServerState& st, Job job)
      : ex_(ex), svc_(svc), st_(st), job_(std::move(job)), id_(api::new_request_id(job_.chat ? "chatcmpl-" : "cmpl-")) {
    created_ =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  awaitable<> run() {
    // Non-streamed tasks share the micro-batcher's steps; refusals go to the client by their
    // kind (429 for a full queue, 503 while shutting down).
    std::vector<Request> requests = requests_for(svc_, job_, seqs_);
    std::vector<std::shared_ptr<RequestHandle>> handles = co_await submit_requests(
        st_.micro_batcher(), svc_.engine(), std::move(requests), ex_.micro_batch && !job_.stream);
    for (size_t i = 0; i < handles.size(); ++i) seqs_[i].handle = std::move(handles[i]);
    ex_.model = svc_.model_id();
    for (const Prompt& p : job_.prompts) ex_.prompt_tokens += static_cast<int32_t>(p.ids.size());
    st_.metrics().tokens(ex_.prompt_tokens, 0);
    for (Sequence& s : seqs_) ex_.watch(*s.handle);

    if (job_.stream) {
      const bool started = co_await start_stream();
      if (!started) co_return cancel_all();
    }
    for (;;) {
      for (size_t i = 0; i < seqs_.size(); ++i)
        while (!seqs_[i].done) {
          std::optional<Event> e = seqs_[i].handle->next(0ms);
          if (!e) break;
          const bool alive = co_await on_event(i, *e);
          if (!alive) co_return cancel_all();
        }
      if (std::all_of(seqs_.begin(), seqs_.end(), [](const Sequence& s) { return s.done; })) break;
      const Wake w = co_await ex_.wait();
      if (w == Wake::PeerGone) co_return cancel_all();
      if (w == Wake::Timeout) {
        cancel_all();
        co_await fail_with(api::from_error(request_timed_out(st_.config())));
        co_return;
      }
    }
    // The first choice that failed speaks for the request; its kind decides the status.
    for (const Sequence& s : seqs_)
      if (s.error) {
        co_await fail_with(api::from_error(*s.error));
        co_return;
      }
    co_await finish();
  }

 private:
  void cancel_all() {
    for (Sequence& s : seqs_)
      if (!s.done) s.handle->cancel();
  }

  awaitable<bool> start_stream() {
    const bool begun = co_await ex_.stream_begin();
    if (!begun) co_return false;
    for (size_t i = 0; i < seqs_.size(); ++i) {
      Sequence& s = seqs_[i];
      std::string chunk;
      if (job_.chat) {
        chunk = api::sse_chat_chunk(id_, created_, svc_.model_id(), static_cast<int32_t>(i), "assistant", "",
                                    std::nullopt, nullptr);
      } else if (job_.echo && !s.choice.text.empty()) {
        chunk = api::sse_completion_chunk(id_, created_, svc_.model_id(), static_cast<int32_t>(i), s.choice.text,
                                          std::nullopt, nullptr, 0);
        s.text_offset = static_cast<int32_t>(api::text_offset_chars(s.choice.text));
      }
      if (chunk.empty()) continue;
      const bool ok = co_await ex_.stream_write(std::move(chunk));
      if (!ok) co_return false;
    }
    co_return true;
  }

  // Returns false when the stream's peer has gone.
  awaitable<bool> on_event(size_t i, Event& e) {
    Sequence& s = seqs_[i];
    const auto now = Clock::now();
    if (e.kind == Event::PromptLogprobs) {  // before any token
      std::vector<api::TokenLogprob> prompt =
          prompt_token_logprobs(svc_.tokenizer(), job_.prompts[s.prompt].ids, e.prompt_logprobs);
      s.choice.logprobs.insert(s.choice.logprobs.begin(), prompt.begin(), prompt.end());
      co_return true;
    }
    if (e.kind == Event::Token) {
      if (ex_.first_token == Clock::time_point{}) ex_.first_token = now;
      if (!s.saw_token)
        st_.metrics().first_token(std::chrono::duration<double>(now - ex_.started()).count());
      else
        st_.metrics().inter_token(std::chrono::duration<double>(now - s.last_token).count());
      s.saw_token = true;
      s.last_token = now;
      st_.metrics().tokens(0, 1);
      std::optional<api::TokenLogprob> lp;
      if (job_.logprobs) lp = to_logprob(svc_.tokenizer(), e.sample);
      if (lp) s.choice.logprobs.push_back(*lp);
      if (s.splitter) {
        const OutputSplitter::Piece piece = s.splitter->push(e.text);
        co_return co_await write_piece(i, piece, lp ? &*lp : nullptr);
      }
      s.choice.text += e.text;
      if (job_.stream && (!e.text.empty() || lp)) {
        const std::string chunk = api::sse_completion_chunk(id_, created_, svc_.model_id(), static_cast<int32_t>(i),
                                                            e.text, std::nullopt, lp ? &*lp : nullptr, s.text_offset);
        s.text_offset += static_cast<int32_t>(api::text_offset_chars(e.text));
        const bool ok = co_await ex_.stream_write(std::move(chunk));
        co_return ok;
      }
      co_return true;
    }
    s.done = true;
    s.usage = e.usage;
    s.choice.finish_reason = to_string(e.finish_reason);
    if (e.kind == Event::Error) {
      s.error.emplace(e.error_kind, e.error.empty() ? "unknown error" : e.error);
      co_return true;
    }
    ex_.completion_tokens += e.usage.completion_tokens;
    if (s.splitter) {
      const OutputSplitter::Piece piece = s.splitter->finish(s.choice.tool_calls);
      if (!s.choice.tool_calls.empty() && e.finish_reason == FinishReason::Stop) s.choice.finish_reason = "tool_calls";
      if (!co_await write_piece(i, piece, nullptr)) co_return false;
      for (size_t c = 0; job_.stream && c < s.choice.tool_calls.size(); ++c) {
        const api::ToolCall& call = s.choice.tool_calls[c];
        const auto ci = static_cast<int32_t>(c);
        const auto index = static_cast<int32_t>(i);
        if (!co_await ex_.stream_write(
                api::sse_chat_tool_call_chunk(id_, created_, svc_.model_id(), index, ci, call, true)))
          co_return false;
        if (!co_await ex_.stream_write(
                api::sse_chat_tool_call_chunk(id_, created_, svc_.model_id(), index, ci, call, false)))
          co_return false;
      }
    }
    if (!job_.stream) co_return true;
    const std::string chunk = job_.chat
                                  ? api::sse_chat_chunk(id_, created_, svc_.model_id(), static_cast<int32_t>(i),
                                                        std::nullopt, "", s.choice.finish_reason, nullptr)
                                  : api::sse_completion_chunk(id_, created_, svc_.model_id(), static_cast<int32_t>(i),
                                                              "", s.choice.finish_reason, nullptr, s.text_offset);
    const bool ok = co_await ex_.stream_write(std::move(chunk));
    co_return ok;
  }

  // A chat choice's content and reasoning as the splitter let them out (kept for the final body,
  // or streamed as deltas).
  awaitable<bool> write_piece(size_t i, const OutputSplitter::Piece& piece, const api::TokenLogprob* lp) {
    Sequence& s = seqs_[i];
    s.choice.text += piece.content;
    s.choice.reasoning += piece.reasoning;
    if (!job_.stream) co_return true;
    const auto index = static_cast<int32_t>(i);
    if (!piece.reasoning.empty() && !co_await ex_.stream_write(api::sse_chat_reasoning_chunk(
                                        id_, created_, svc_.model_id(), index, piece.reasoning)))
      co_return false;
    if (piece.content.empty() && !lp) co_return true;
    co_return co_await ex_.stream_write(
        api::sse_chat_chunk(id_, created_, svc_.model_id(), index, std::nullopt, piece.content, std::nullopt, lp));
  }

  awaitable<> finish() {
    const api::Usage usage = total_usage(job_, seqs_);
    if (!job_.stream) {
      std::vector<api::Choice> choices;
      for (const Sequence& s : seqs_) choices.push_back(s.choice);
      std::string body = job_.chat
                             ? api::chat_completion_json(id_, created_, svc_.model_id(), choices, usage, job_.logprobs)
                             : api::completion_json(id_, created_, svc_.model_id(), choices, usage, job_.logprobs);
      if (cache::Cache* c = st_.response_cache(); c && !job_.cache_key.empty()) c->put(job_.cache_key, body);
      if (!job_.extra.is_null()) body = with_extra(body, job_.extra, generation_ms(), ex_);
      if (SemanticCache* sc = st_.semantic_cache(); sc && job_.semantic)
        sc->put(job_.semantic->collection, job_.semantic->version, job_.semantic->context,
                std::move(job_.semantic->query), body);
      co_await ex_.respond(200, std::move(body));
      co_return;
    }
    if (!job_.extra.is_null()) {
      std::string chunk = extra_chunk(id_, created_, svc_.model_id(), job_.extra, generation_ms(), ex_);
      if (!co_await ex_.stream_write(std::move(chunk))) co_return;
    }
    if (job_.include_usage) {
      std::string chunk = api::sse_usage_chunk(id_, created_, svc_.model_id(), usage, job_.chat);
      const bool ok = co_await ex_.stream_write(std::move(chunk));
      if (!ok) co_return;
    }
    std::string done = api::sse_done();
    const bool ok = co_await ex_.stream_write(std::move(done));
    if (!ok) co_return;
    co_await ex_.stream_end();
  }

  // Since the engine took the request; RAG answers count it as their generation stage.
  double generation_ms() const {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    st_.metrics().rag_stage("generation", ms / 1000);
    return ms;
  }

  awaitable<> fail_with(const api::ApiError& e) {
    if (!ex_.response_started()) {
      co_await respond_error(ex_, e);
      co_return;
    }
    std::string error = api::sse_error(e), done = api::sse_done();
    bool ok = co_await ex_.stream_write(std::move(error));
    if (ok) ok = co_await ex_.stream_write(std::move(done));
    if (!ok) co_return;
    co_await ex_.stream_end();
  }

  Exchange& ex_;
  Service& svc_;
  ServerState& st_;
  Job job_;
  std::string id_;
  int64_t created_ = 0;
  std::vector<Sequence> seqs_;
  Clock::time_point started_ = Clock::now();
};

// A deterministic request answered before gets the cached answer (with a fresh id) and the engine
// never sees it. On a miss the job keeps the key, so that its answer is stored once computed.
awaitable<bool> answer_from_cache(Exchange& ex, ServerState& st, Service& svc, Job& job) {
  cache::Cache* c = st.response_cache();
  if (!c) co_return false;
  const char* route = job.chat ? "chat" : "completions";
  std::optional<std::string> key =
      response_cache_key(route, svc.model_id(), ex.request().body, job.sampling, job.stream);
  if (!key) co_return false;
  std::optional<std::string> body;
  if (std::optional<std::string> cached = c->get(*key))
    body = refresh_cached_response(*cached, job.chat ? "chatcmpl-" : "cmpl-");
  if (!body) {
    job.cache_key = std::move(*key);
    co_return false;
  }
  ex.model = svc.model_id();
  for (const Prompt& p : job.prompts) ex.prompt_tokens += static_cast<int32_t>(p.ids.size());
  Headers extra;  // built outside the co_await: g++ 12 cannot put the literals' pair in a coroutine frame
  extra.emplace_back("x-hayate-cache", "hit");
  co_await ex.respond(200, std::move(*body), "application/json", std::move(extra));
  co_return true;
}

// An answer of the semantic cache made fresh (a new id), saying it is one and how close the
// question was; nullopt for an entry that is not a response.
std::optional<std::string> semantic_hit_body(const SemanticCache::Hit& hit) {
  std::optional<std::string> body = refresh_cached_response(hit.body, "chatcmpl-");
  if (!body) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*body);
  j["cache"]["semantic"] = "hit";
  j["cache"]["similarity"] = hit.similarity;
  return j.dump();
}

// The semantic cache's answer to a RAG question, or (a miss) the slot its answer goes into.
std::optional<std::string> semantic_lookup(Exchange& ex, ServerState& st, Service& svc, const RagRequest& rag,
                                           const std::vector<float>& query, Job& job) {
  SemanticCache* sc = st.semantic_cache();
  if (!sc || !st.collections()) return std::nullopt;
  std::optional<std::string> context = semantic_context(ex.request().body, svc.model_id());
  if (!context) return std::nullopt;
  const int64_t version = st.collections()->require(rag.collection).version;
  if (std::optional<SemanticCache::Hit> hit = sc->get(rag.collection, version, *context, query))
    if (std::optional<std::string> body = semantic_hit_body(*hit)) {
      ex.model = svc.model_id();
      ex.log_fields = " semantic_cache=hit";
      return body;
    }
  job.semantic = Job::SemanticSlot{rag.collection, *context, version, query};
  return std::nullopt;
}

}  // namespace

awaitable<> handle_chat_completions(Exchange& ex, ServerState& st) {
  const auto service = co_await acquire_service(ex, st);
  if (!service) co_return;
  Service& svc = *service;
  api::ChatCompletionRequest req = api::parse_chat_request(ex.request().body, svc.limits());
  svc.check_model(req.model);
  const std::vector<vision::ImageRows> image_rows = co_await message_images(req.messages, svc, st.config());
  Job job;
  job.chat = true;
  if (std::optional<RagRequest> rag = parse_rag_request(ex.request().body, req.messages, st, svc)) {
    const auto t0 = Clock::now();
    bool embed_hit = false;
    std::optional<std::vector<float>> query = co_await embed_query(ex, st, svc, rag->query_ids, embed_hit);
    if (!query) co_return;
    const double embed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    st.metrics().rag_stage("embed", embed_ms / 1000);
    if (std::optional<std::string> cached = semantic_lookup(ex, st, svc, *rag, *query, job)) {
      Headers extra;  // built outside the co_await: g++ 12 cannot put the literals' pair in a coroutine frame
      extra.emplace_back("x-hayate-cache", "semantic");
      co_await ex.respond(200, std::move(*cached), "application/json", std::move(extra));
      co_return;
    }
    job.extra = apply_rag(*rag, std::move(*query), embed_ms, embed_hit, req.messages, st);
    if (job.semantic) job.extra["cache"]["semantic"] = "miss";
  }
  const auto prompt_t0 = Clock::now();
  const bool tools_on = !req.tools.empty() && req.tool_choice.mode != api::ToolChoice::None;
  job.tool_format = svc.tool_format();
  job.reasoning = req.reasoning;
  if (tools_on)
    for (const api::Tool& t : req.tools) job.tool_names.push_back(t.name);
  job.constraint = make_constraint(
      svc.grammars(),
      constraint_gbnf(req.constraint, req.tools, req.tool_choice, req.parallel_tool_calls, job.tool_format),
      std::move(req.logit_bias), constraint_param(req.constraint));
  Prompt p;
  const std::string text =
      svc.render_chat(req.messages, req.extra_template_vars, tools_on ? req.tools_json : nlohmann::json());
  vision::ImagePrompt ip = tokenize_prompt(svc, text, image_rows);
  p.ids = std::move(ip.ids);
  p.images = std::move(ip.images);
  svc.check_prompt(p.ids, "prompt", "messages");
  if (job.extra.contains("timings")) {  // RAG: rendering and tokenizing the prompt with its sources
    const double prompt_ms = std::chrono::duration<double, std::milli>(Clock::now() - prompt_t0).count();
    job.extra["timings"]["prompt_ms"] = prompt_ms;
    st.metrics().rag_stage("prompt", prompt_ms / 1000);
  }
  job.prompts.push_back(std::move(p));
  job.n = req.n;
  job.max_tokens = req.max_tokens;
  job.sampling = req.sampling;
  job.stop = std::move(req.stop);
  job.logprobs = req.logprobs;
  job.ignore_eos = req.ignore_eos;
  job.stream = req.stream;
  job.include_usage = req.include_usage;
  if (co_await answer_from_cache(ex, st, svc, job)) co_return;
  Generation g(ex, svc, st, std::move(job));
  co_await g.run();
}

awaitable<> handle_completions(Exchange& ex, ServerState& st) {
  const auto service = co_await acquire_service(ex, st);
  if (!service) co_return;
  Service& svc = *service;
  api::CompletionRequest req = api::parse_completion_request(ex.request().body, svc.limits());
  svc.check_model(req.model);
  Job job;
  job.chat = false;
  for (const std::string& text : req.prompts) job.prompts.push_back({svc.tokenizer().encode(text, true, true), text});
  for (auto& ids : req.prompt_ids) {
    std::string text = req.echo ? svc.tokenizer().decode(ids, false) : std::string();
    job.prompts.push_back({std::move(ids), std::move(text)});
  }
  for (const Prompt& p : job.prompts) svc.check_prompt(p.ids, "prompt", "prompt");
  job.n = req.n;
  job.max_tokens = req.max_tokens;
  job.sampling = req.sampling;
  job.stop = std::move(req.stop);
  job.logprobs = req.logprobs.has_value();
  if (req.logprobs) job.sampling.n_logprobs = *req.logprobs;
  job.constraint = make_constraint(svc.grammars(), constraint_gbnf(req.constraint, {}, {}, false, ToolFormat::Json),
                                   std::move(req.logit_bias), constraint_param(req.constraint));
  job.stream = req.stream;
  job.include_usage = req.include_usage;
  job.echo = req.echo;
  job.ignore_eos = req.ignore_eos;
  if (req.echo && req.logprobs) {
    // The prompt's logprobs come before its text could be streamed: scoring is whole responses.
    if (req.stream)
      throw api::ApiError(400,
                          "'echo' with 'logprobs' (the prompt's log-probabilities) is not supported with "
                          "'stream': true; send \"stream\": false",
                          "invalid_request_error", "stream");
    job.prompt_logprobs = true;
  }
  if (co_await answer_from_cache(ex, st, svc, job)) co_return;
  Generation g(ex, svc, st, std::move(job));
  co_await g.run();
}

}  // namespace hayate::server
