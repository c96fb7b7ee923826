// `hayate eval gsm8k|humaneval|jcommonsenseqa|jnli|marc-ja`: the quality suites (eval/suite.h) in
// this process (-m, one Session) or through an OpenAI-compatible server (--url, --parallel
// connections), with a resumable results file and a summary JSON (docs/eval.md).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/common.h"
#include "cli/eval_model.h"
#include "core/error.h"
#include "eval/gsm8k.h"
#include "eval/humaneval.h"
#include "eval/jglue.h"
#include "eval/openai_client.h"
#include "eval/run.h"

namespace hayate::cli {
namespace {

using nlohmann::json;

struct SuiteOptions {
  ModelOptions model;
  std::string file, out, summary, api = "completions", label_model, label_format;
  eval::ClientOptions remote;  // remote.url empty: in-process
  int parallel = 1;
  size_t limit = 0;
  bool json = false, no_progress = false;
};

void add_suite_options(CLI::App& cmd, SuiteOptions& o) {
  add_model_options(cmd, o.model);
  cmd.add_option("file", o.file, "the suite's data file in its official JSONL format")->required();
  cmd.add_option("--url", o.remote.url,
                 "score through this OpenAI-compatible server (http://HOST:PORT) instead of a model in this process; "
                 "-m then names the served model");
  cmd.add_option("--served-model", o.remote.model, "with --url: the \"model\" to request (same as -m)");
  cmd.add_option("--api-key", o.remote.api_key, "with --url: sent as a Bearer token")->envname("HAYATE_API_KEY");
  cmd.add_option("--api", o.api, "with --url: completions (prompt as given) or chat (prompt as one user message)")
      ->check(CLI::IsMember({"completions", "chat"}))
      ->capture_default_str();
  cmd.add_option("--parallel", o.parallel, "with --url: requests in flight at once (one connection each)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd.add_option("--out", o.out,
                 "results file (JSONL, one record per item: prompt, output, extracted answer, correct); items "
                 "already in it are skipped, so a killed run continues where it stopped");
  cmd.add_option("--summary", o.summary, "write the summary JSON here (schema in docs/eval.md)");
  cmd.add_option("--limit", o.limit, "only the first N items (0: all)");
  cmd.add_option("--label-model", o.label_model, "the summary's \"model\" (default: the GGUF's name, or -m)");
  cmd.add_option("--label-format", o.label_format, "the summary's \"format\" (default: the GGUF's file type)");
  cmd.add_flag("--json", o.json, "print the summary JSON on stdout");
  cmd.add_flag("--no-progress", o.no_progress, "no progress bar (there is none when stderr is not a terminal)");
}

// Builds the workers' models, runs the suite and reports.
void run_suite_command(eval::Suite& suite, SuiteOptions o) {
  std::vector<std::unique_ptr<eval::LanguageModel>> models;
  std::unique_ptr<LoadedModel> lm;
  eval::Provenance who;
  who.file = o.file;
  if (!o.remote.url.empty()) {
    if (o.remote.model.empty() && !o.model.path.empty()) o.remote.model = o.model.path;
    o.remote.api = o.api == "chat" ? eval::CompletionApi::Chat : eval::CompletionApi::Completions;
    for (int w = 0; w < o.parallel; ++w) models.push_back(std::make_unique<eval::OpenAiModel>(o.remote));
    who.server = o.remote.url + (o.api == "chat" ? "/v1/chat/completions" : "/v1/completions");
    who.model = o.remote.model;
  } else {
    if (o.parallel > 1)
      std::fprintf(stderr, "hayate eval: --parallel applies to --url; in this process items run one at a time\n");
    lm = std::make_unique<LoadedModel>(load_model(o.model));
    models.push_back(std::make_unique<SessionModel>(*lm));
    who.server = "hayate in-process (" + lm->backend->name() + ")";
    who.model = model_label(*lm, o.model);
    who.format = model_format(*lm);
  }
  if (!o.label_model.empty()) who.model = o.label_model;
  if (!o.label_format.empty()) who.format = o.label_format;

  std::vector<eval::LanguageModel*> workers;
  for (auto& m : models) workers.push_back(m.get());
  eval::RunOptions ro;
  ro.out = o.out;
  ro.limit = o.limit;
  ro.progress = !o.no_progress && isatty(STDERR_FILENO);
  const eval::RunResult result = eval::run_suite(suite, workers, ro);
  const nlohmann::ordered_json summary = eval::summary_json(suite, result, who);
  const std::string text = summary.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!o.summary.empty()) {
    std::ofstream f(o.summary, std::ios::binary);
    f << text << "\n";
    if (!f) fail(ErrorKind::BadInput, o.summary + ": cannot write");
  }
  if (o.json) {
    std::cout << text << "\n";
    return;
  }
  std::printf("%s on %s: ", suite.name().c_str(), o.file.c_str());
  bool first = true;
  for (const auto& [name, value] : summary["metrics"].items())
    std::printf("%s%s %.4f", first ? "" : ", ", name.c_str(), value.get<double>()), first = false;
  std::printf(" (%zu items, %zu resumed)\n", result.records.size(), result.resumed);
  std::fprintf(stderr, "hayate eval: %.2f s, %s\n", result.seconds, who.server.c_str());
}

}  // namespace

void add_eval_suite_commands(CLI::App& eval) {
  {
    auto o = std::make_shared<SuiteOptions>();
    auto shots_file = std::make_shared<std::string>();
    auto shots = std::make_shared<int>(8), max_tokens = std::make_shared<int>(256);
    CLI::App* cmd = eval.add_subcommand(
        "gsm8k",
        "GSM8K ({\"question\", \"answer\": \"... #### N\"} JSONL): k-shot chain-of-thought prompt, the final number "
        "of the output (after \"The answer is\", else the last one) against N, exact match");
    add_suite_options(*cmd, *o);
    cmd->add_option("--shots", *shots, "worked examples before each question")->capture_default_str();
    cmd->add_option("--shots-file", *shots_file, "take them from this GSM8K train file (default: built-in ones)");
    cmd->add_option("-n,--max-tokens", *max_tokens, "most tokens per answer")->capture_default_str();
    cmd->callback([=] {
      std::vector<eval::Gsm8kItem> examples =
          shots_file->empty() ? eval::gsm8k_builtin_shots() : eval::read_gsm8k(*shots_file);
      eval::Gsm8kSuite suite(eval::read_gsm8k(o->file), std::move(examples), *shots, *max_tokens);
      run_suite_command(suite, *o);
    });
  }
  {
    auto o = std::make_shared<SuiteOptions>();
    auto he = std::make_shared<eval::HumanEvalOptions>();
    auto temperature = std::make_shared<double>(-1);
    auto timeout = std::make_shared<double>(10);
    auto memory_mb = std::make_shared<uint64_t>(1024);
    CLI::App* cmd = eval.add_subcommand(
        "humaneval",
        "HumanEval ({\"task_id\", \"prompt\", \"test\", \"entry_point\"} JSONL): completions run against the "
        "task's tests in a sandbox (python3, no network, limits in docs/eval.md); pass@k, unbiased estimator");
    add_suite_options(*cmd, *o);
    cmd->add_option("--samples", he->samples, "completions per task (n)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    cmd->add_option("--temperature", *temperature, "sampling temperature (default: 0 for one sample, else 0.8)");
    cmd->add_option("--k", he->ks, "pass@k for these k (each at most --samples)")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("-n,--max-tokens", he->max_tokens, "most tokens per completion")->capture_default_str();
    cmd->add_option("--seed", he->seed, "seed of the first sample (sample i uses seed + i)")->capture_default_str();
    cmd->add_option("--timeout", *timeout, "wall-clock seconds per test run")->capture_default_str();
    cmd->add_option("--memory-mb", *memory_mb, "address-space limit per test run, MiB")->capture_default_str();
    cmd->callback([=] {
      eval::HumanEvalOptions opt = *he;
      opt.temperature = *temperature >= 0 ? *temperature : opt.samples > 1 ? 0.8 : 0.0;
      opt.limits.wall = std::chrono::milliseconds(static_cast<int64_t>(*timeout * 1000));
      opt.limits.cpu_seconds = std::max(1, static_cast<int>(*timeout));
      opt.limits.address_space = *memory_mb << 20;
      eval::HumanEvalSuite suite(eval::read_humaneval(o->file), opt);
      run_suite_command(suite, *o);
    });
  }
  for (const char* name : {"jcommonsenseqa", "jnli", "marc-ja"}) {
    const eval::JglueTask task = *eval::jglue_task(name);
    auto o = std::make_shared<SuiteOptions>();
    auto score = std::make_shared<std::string>("loglik");
    CLI::App* cmd = eval.add_subcommand(
        name, std::string("JGLUE ") + name +
                  " (official JSONL): accuracy, by the choices' log-likelihood (in-process, or a server whose "
                  "/v1/completions returns prompt logprobs with echo) or by the label read from a greedy answer");
    add_suite_options(*cmd, *o);
    cmd->add_option("--score", *score, "loglik or generate")
        ->check(CLI::IsMember({"loglik", "generate"}))
        ->capture_default_str();
    cmd->callback([=] {
      eval::JglueSuite suite(task, eval::read_jglue(task, o->file),
                             *score == "generate" ? eval::ChoiceScoring::Generate : eval::ChoiceScoring::LogLikelihood);
      run_suite_command(suite, *o);
    });
  }
}

}  // namespace hayate::cli
