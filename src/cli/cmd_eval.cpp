// `hayate eval`: perplexity of a text and exact-match accuracy on prompt/answer tasks, measured
// through the same Session (and so the same forward pass and backends) as `hayate run`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/eval_model.h"
#include "core/clock.h"
#include "core/error.h"
#include "engine/session.h"
#include "eval/openai_client.h"
#include "eval/tasks.h"

namespace hayate::cli {
namespace {

using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, path + ": cannot open");
  return {std::istreambuf_iterator<char>(f), {}};
}

void write_json_file(const std::string& path, const json& j) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::BadInput, path + ": cannot open for writing");
  f << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  if (!f) fail(ErrorKind::ResourceExhausted, path + ": write failed");
}

// --- perplexity --------------------------------------------------------------------------------

struct PerplexityOptions {
  ModelOptions model;
  std::string file, token_ids, out;
  int32_t ctx = 512;
  bool json = false;
};

// A JSON array of ids, or an object whose "token_ids" is one (tools/demo-model's reference_ppl.json).
std::vector<int32_t> read_token_ids(const std::string& path, int32_t n_vocab) {
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    fail(ErrorKind::BadInput, path + ": not JSON (" + e.what() + ")");
  }
  const json& ids = j.is_object() && j.contains("token_ids") ? j["token_ids"] : j;
  if (!ids.is_array()) fail(ErrorKind::BadInput, path + ": expected an array of token ids or {\"token_ids\": [...]}");
  std::vector<int32_t> out;
  for (const json& id : ids) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= n_vocab)
      fail(ErrorKind::BadInput,
           path + ": " + id.dump() + " is not a token id of this model (0.." + std::to_string(n_vocab - 1) + ")");
    out.push_back(id.get<int32_t>());
  }
  return out;
}

// Non-overlapping windows of ctx tokens, each from an empty cache; every token after a window's
// first is predicted. tools/demo-model/train.py computes PyTorch's figure the same way.
void perplexity(const PerplexityOptions& o) {
  if (o.ctx < 2) fail(ErrorKind::BadInput, "--ctx must be at least 2");
  ModelOptions mo = o.model;
  mo.ctx_size = o.ctx;
  LoadedModel lm = load_model(mo);
  const int32_t n_vocab = lm.model->hp.n_vocab;
  std::vector<int32_t> ids;
  if (!o.token_ids.empty()) {
    ids = read_token_ids(o.token_ids, n_vocab);
  } else {
    if (o.file.empty()) fail(ErrorKind::BadInput, "give a text FILE or --token-ids FILE.json");
    if (!lm.tokenizer) fail(ErrorKind::BadInput, "the model has no tokenizer; give --token-ids FILE.json");
    ids = lm.tokenizer->encode(read_file(o.file), false, true);
  }
  if (ids.size() < 2) fail(ErrorKind::BadInput, "the text has fewer than 2 tokens: nothing to predict");
  if (o.ctx > lm.model->hp.n_ctx_train)
    std::cerr << "hayate eval: warning: --ctx " << o.ctx << " is longer than the model's trained context "
              << lm.model->hp.n_ctx_train << "\n";

  Session session(*lm.model, *lm.backend, o.ctx);
  std::vector<double> nll;
  std::vector<int32_t> top1;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t lo = 0; lo + 1 < ids.size(); lo += static_cast<size_t>(o.ctx)) {
    const size_t n = std::min(ids.size() - lo, static_cast<size_t>(o.ctx));
    if (n < 2) break;
    session.reset();
    const std::vector<float> logits = session.feed(std::span<const int32_t>(ids.data() + lo, n), true);
    for (size_t p = 0; p + 1 < n; ++p) {
      int32_t best = 0;
      nll.push_back(token_nll(logits.data() + p * static_cast<size_t>(n_vocab), n_vocab, ids[lo + p + 1], &best));
      top1.push_back(best);
    }
  }
  const double seconds = seconds_since(t0);
  double mean = 0, var = 0;
  for (double x : nll) mean += x;
  mean /= static_cast<double>(nll.size());
  for (double x : nll) var += (x - mean) * (x - mean);
  var /= static_cast<double>(std::max<size_t>(1, nll.size() - 1));
  const double stderr_nll = std::sqrt(var / static_cast<double>(nll.size()));
  const double ppl = std::exp(mean);

  json j = {{"tokens", ids.size()},
            {"predicted", nll.size()},
            {"ctx", o.ctx},
            {"mean_nll", mean},
            {"std_error_nll", stderr_nll},
            {"perplexity", ppl},
            {"perplexity_std_error", ppl * stderr_nll},
            {"seconds", seconds},
            {"tokens_per_second", static_cast<double>(ids.size()) / seconds},
            {"backend", lm.backend->name()}};
  if (!o.out.empty()) {
    json detail = j;
    detail["token_ids"] = ids;
    detail["nll"] = nll;
    detail["top1"] = top1;
    write_json_file(o.out, detail);
  }
  if (o.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("perplexity %.4f ± %.4f (mean NLL %.5f ± %.5f over %zu predicted tokens of %zu, windows of %d)\n", ppl,
                ppl * stderr_nll, mean, stderr_nll, nll.size(), ids.size(), o.ctx);
    std::fprintf(stderr, "hayate eval: %.2f s (%.0f tokens/s), backend %s\n", seconds,
                 static_cast<double>(ids.size()) / seconds, lm.backend->name().c_str());
  }
}

// --- tasks ---------------------------------------------------------------------------------------

struct TaskOptions {
  ModelOptions model;
  std::string file, out;
  int32_t max_tokens = 64;
  int32_t limit = 0;
  bool json = false;
  eval::ScoreRules rules;
  eval::ClientOptions remote;  // remote.url empty: in-process
  std::string api = "completions";
};

// Greedy generation per prompt until an end-of-generation token or max_tokens, in this process
// or through --url; scoring rules are eval/tasks.h's.
void tasks(TaskOptions o) {
  std::vector<eval::TaskItem> items = eval::read_task_file(o.file, o.rules);
  if (o.limit > 0 && static_cast<size_t>(o.limit) < items.size()) items.resize(static_cast<size_t>(o.limit));

  std::function<std::string(const eval::TaskItem&)> generate;
  std::unique_ptr<LoadedModel> lm;
  std::unique_ptr<Session> session;
  std::unique_ptr<eval::OpenAiClient> client;
  std::string engine;
  if (!o.remote.url.empty()) {
    o.remote.api = o.api == "chat" ? eval::CompletionApi::Chat : eval::CompletionApi::Completions;
    client = std::make_unique<eval::OpenAiClient>(o.remote);
    engine = o.remote.url + (o.api == "chat" ? " (/v1/chat/completions)" : " (/v1/completions)");
    generate = [&](const eval::TaskItem& it) { return client->complete(it.prompt, o.max_tokens); };
  } else {
    lm = std::make_unique<LoadedModel>(load_model(o.model));
    if (!lm->tokenizer) fail(ErrorKind::BadInput, "eval tasks needs a model with a tokenizer");
    session = std::make_unique<Session>(*lm->model, *lm->backend, lm->n_ctx);
    engine = "backend " + lm->backend->name();
    generate = [&](const eval::TaskItem& it) {
      GenerateOptions gen;
      gen.max_tokens = o.max_tokens;
      gen.sampling.temperature = 0;
      session->reset();
      const std::vector<int32_t> ids = lm->tokenizer->encode(it.prompt, true, true);
      if (static_cast<int32_t>(ids.size()) >= lm->n_ctx)
        fail(ErrorKind::BadInput, o.file + ":" + std::to_string(it.line) + ": the prompt has " +
                                      std::to_string(ids.size()) + " tokens, more than the context " +
                                      std::to_string(lm->n_ctx) + " (-c) allows");
      return session->generate(ids, gen, lm->tokenizer.get()).text;
    };
  }

  json results = json::array();
  const auto t0 = std::chrono::steady_clock::now();
  const eval::TaskSummary sum =
      eval::run_tasks(items, o.rules, generate, [&](size_t i, const eval::TaskItem& it, const eval::ItemScore& s) {
        json r = {{"index", i},          {"line", it.line},    {"task", it.task},
                  {"answer", it.answer}, {"output", s.output}, {"correct", s.correct}};
        if (!it.choices.empty()) r["picked"] = s.picked ? json(*s.picked) : json(nullptr);
        results.push_back(std::move(r));
      });
  const double seconds = seconds_since(t0);
  json summary = {{"file", o.file},     {"items", sum.items}, {"correct", sum.correct},    {"accuracy", sum.accuracy()},
                  {"seconds", seconds}, {"engine", engine},   {"per_task", json::object()}};
  for (const auto& [task, hn] : sum.per_task)
    summary["per_task"][task] = {
        {"items", hn.second}, {"correct", hn.first}, {"accuracy", static_cast<double>(hn.first) / hn.second}};
  if (!o.out.empty()) {
    std::ofstream f(o.out, std::ios::binary);
    if (!f) fail(ErrorKind::BadInput, o.out + ": cannot open for writing");
    for (const json& r : results) f << r.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    if (!f) fail(ErrorKind::ResourceExhausted, o.out + ": write failed");
  }
  if (o.json) {
    std::cout << summary.dump() << "\n";
    return;
  }
  std::printf("accuracy %.4f (%d / %d correct) on %s\n", sum.accuracy(), sum.correct, sum.items, o.file.c_str());
  if (sum.per_task.size() > 1)
    for (const auto& [task, hn] : sum.per_task)
      std::printf("  %-24s %.4f (%d / %d)\n", task.c_str(), static_cast<double>(hn.first) / hn.second, hn.first,
                  hn.second);
  std::fprintf(stderr, "hayate eval: %.2f s, %s\n", seconds, engine.c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("eval", "measure a model: perplexity of a text, accuracy on prompt/answer tasks");
  cmd->require_subcommand(1);

  auto p = std::make_shared<PerplexityOptions>();
  CLI::App* ppl = cmd->add_subcommand(
      "perplexity",
      "perplexity over non-overlapping windows of --ctx tokens (each from an empty cache), in this process only: "
      "through a server it would need prompt-token logprobs, which hayate serve's /v1/completions does not return "
      "(echo gives the prompt text without logprobs)");
  add_model_options(*ppl, p->model);
  ppl->add_option("file", p->file, "text file to tokenize (without BOS/EOS)");
  ppl->add_option("--ctx", p->ctx, "window length in tokens")->capture_default_str();
  ppl->add_option("--token-ids", p->token_ids, "use these ids: a JSON array, or an object with \"token_ids\"");
  ppl->add_option("--out", p->out, "write per-token NLL and top-1 ids as JSON");
  ppl->add_flag("--json", p->json, "print the summary as JSON");
  ppl->callback([p] { perplexity(*p); });

  auto t = std::make_shared<TaskOptions>();
  CLI::App* tk = cmd->add_subcommand(
      "tasks",
      "greedy answers to JSONL items, scored. {\"prompt\", \"answer\"[, \"task\"]}: exact match after trimming "
      "surrounding whitespace (case-sensitive unless --ignore-case); {\"prompt\", \"choices\": [...], \"answer\": "
      "choice or 0-based index}: the output must equal the right choice, start with it (then a non-alphanumeric "
      "character), or name its letter (A, B), B., ...). In this process (-m) or through an OpenAI-compatible server "
      "(--url)");
  add_model_options(*tk, t->model);
  tk->add_option("file", t->file, "JSONL task file")->required();
  tk->add_option("-n,--max-tokens", t->max_tokens, "most tokens to generate per item")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  tk->add_option("--limit", t->limit, "score only the first N items (0 = all)")->check(CLI::NonNegativeNumber);
  tk->add_flag("--ignore-case", t->rules.ignore_case, "compare answers with ASCII letters in lower case");
  tk->add_option("--url", t->remote.url,
                 "score through this OpenAI-compatible server (http://HOST:PORT), greedy (temperature 0), instead of "
                 "a model in this process; -m, -c, -t and --backend are then not used");
  tk->add_option("--api", t->api, "with --url: completions (prompt as given) or chat (prompt as one user message)")
      ->check(CLI::IsMember({"completions", "chat"}))
      ->capture_default_str();
  tk->add_option("--served-model", t->remote.model, "with --url: the \"model\" to request (default: the server's)");
  tk->add_option("--api-key", t->remote.api_key, "with --url: sent as a Bearer token")->envname("HAYATE_API_KEY");
  tk->add_option("--out", t->out, "write one JSON line per item (line, answer, output, correct, picked)");
  tk->add_flag("--json", t->json, "print the summary as JSON");
  tk->callback([t] { tasks(*t); });

  add_eval_suite_commands(*cmd);
}

}  // namespace hayate::cli
