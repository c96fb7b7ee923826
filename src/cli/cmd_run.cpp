// `hayate run`: one prompt, streamed (`hayate chat` is cmd_chat.cpp).
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.h"
#include "cli/image_input.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "vision/embed.h"

namespace hayate::cli {
namespace {

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::logic_error&) {
      fail(ErrorKind::BadInput, "--prompt-ids: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    }
  }
  return ids;
}

struct RunOptions {
  ModelOptions model;
  GenerateOptions gen;
  std::string prompt, prompt_file, prompt_ids, logits_out, mmproj;
  std::vector<std::string> images;
  bool json = false, no_special = false;
};

// --image with --mmproj: the prompt and its images through the serving engine, which is what
// places image rows today (Session does not), so the answer is the server's for the same prompt.
void run_with_images(const RunOptions& o, LoadedModel& lm, const std::string& text) {
  if (!lm.tokenizer) fail(ErrorKind::BadInput, "--image needs a model with a tokenizer");
  vision::ImageEmbedder embedder(o.mmproj, lm.model->hp, "cpu", o.model.threads);
  std::vector<vision::ImageRows> rows;
  for (const std::string& path : o.images) {
    try {
      rows.push_back(embedder.embed(read_image(path)));
    } catch (const Error& e) {
      fail(e.kind(), path + ": " + e.what());
    }
  }
  std::string marked = text;
  if (marked.find(kImageMarker) == std::string::npos)
    for (size_t i = 0; i < o.images.size(); ++i) marked.insert(0, kImageMarker);
  vision::ImagePrompt p =
      vision::tokenize_with_images(*lm.tokenizer, marked, kImageMarker, rows, embedder.image_token(), !o.no_special);
  EngineConfig config;
  config.n_ctx = lm.n_ctx;
  config.max_batch_tokens = o.model.batch_tokens;
  config.kv_blocks = o.model.kv_blocks;
  Engine engine(*lm.model, std::move(lm.backend), lm.tokenizer.get(), config);
  Request r;
  r.prompt = p.ids;
  r.images = std::move(p.images);
  r.options = o.gen;
  const std::shared_ptr<RequestHandle> handle = engine.submit(std::move(r));
  std::vector<int32_t> ids;
  std::string out;
  for (std::optional<Event> e = handle->next(); e; e = handle->next()) {
    if (e->kind == Event::Token) {
      ids.push_back(e->token);
      out += e->text;
      if (!o.json) std::cout << e->text << std::flush;
      continue;
    }
    if (e->kind == Event::Error) fail(e->error_kind, e->error);
    if (o.json) {
      nlohmann::json j;
      j["prompt_ids"] = p.ids;
      j["ids"] = ids;
      j["text"] = out;
      j["finish_reason"] = to_string(e->finish_reason);
      j["prompt_tokens"] = e->usage.prompt_tokens;
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << "\n";
    }
    std::cerr << "hayate: prompt " << p.ids.size() << " tokens (" << rows.size() << " image(s) of "
              << embedder.tokens_per_image() << "); generated " << ids.size()
              << " tokens; finish: " << to_string(e->finish_reason) << "\n";
    break;
  }
}

void write_logits(Session& s, const std::vector<int32_t>& prompt, const std::string& path, int32_t n_vocab) {
  const std::vector<float> logits = s.feed(prompt, true);
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::BadInput, path + ": cannot open for writing");
  f.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!f) fail(ErrorKind::ResourceExhausted, path + ": write failed");
  std::cerr << "hayate: wrote logits of " << prompt.size() << " positions x " << n_vocab << " to " << path << "\n";
  s.reset();
}

std::string prompt_text(const RunOptions& o) {
  if (o.prompt_file.empty()) return o.prompt;
  std::ifstream f(o.prompt_file, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, o.prompt_file + ": cannot open");
  return {std::istreambuf_iterator<char>(f), {}};
}

void run(const RunOptions& o) {
  LoadedModel lm = load_model(o.model);
  std::vector<int32_t> prompt;
  if (!o.images.empty()) {
    if (!o.prompt_ids.empty() || !o.logits_out.empty())
      fail(ErrorKind::BadInput, "--image takes a text prompt (-p or -f), not --prompt-ids or --logits-out");
    return run_with_images(o, lm, prompt_text(o));
  }
  if (!o.prompt_ids.empty()) {
    prompt = parse_ids(o.prompt_ids);
  } else {
    if (!lm.tokenizer) fail(ErrorKind::BadInput, "the model has no tokenizer; give the prompt with --prompt-ids");
    prompt = lm.tokenizer->encode(prompt_text(o), !o.no_special, true);
  }
  if (prompt.empty()) fail(ErrorKind::BadInput, "the prompt is empty: give -p TEXT or --prompt-ids");

  Session session(*lm.model, *lm.backend, lm.n_ctx);
  if (!o.logits_out.empty()) write_logits(session, prompt, o.logits_out, lm.model->hp.n_vocab);

  GenerateResult r = session.generate(prompt, o.gen, lm.tokenizer.get(), [&](const std::string& text) {
    if (!o.json) {
      std::cout << text;
      std::cout.flush();
    }
  });
  const double pp = r.prompt_seconds > 0 ? r.n_prompt / r.prompt_seconds : 0;
  const double tg = r.gen_seconds > 0 ? static_cast<double>(r.tokens.size()) / r.gen_seconds : 0;
  if (o.json) {
    nlohmann::json j;
    j["prompt_ids"] = prompt;
    j["ids"] = r.tokens;
    j["text"] = r.text;
    j["finish_reason"] = to_string(r.finish_reason);
    j["prompt_tokens_per_second"] = pp;
    j["generation_tokens_per_second"] = tg;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "\n";
  }
  std::cerr << "hayate: prompt " << r.n_prompt << " tokens in " << r.prompt_seconds << " s (" << pp
            << " tok/s); generated " << r.tokens.size() << " tokens in " << r.gen_seconds << " s (" << tg
            << " tok/s); finish: " << to_string(r.finish_reason) << "\n"
            << "hayate: model " << lm.model->hp.arch << ", weights " << human_bytes(lm.model->weight_bytes())
            << " mapped, KV cache " << human_bytes(session.kv_bytes()) << ", resident memory "
            << human_bytes(resident_memory_bytes()) << " (peak " << human_bytes(peak_resident_memory_bytes())
            << "), backend " << lm.backend->name() << "\n";
}

}  // namespace

void add_generation_options(CLI::App& cmd, GenerateOptions& g) {
  cmd.add_option("-n,--max-tokens", g.max_tokens, "most tokens to generate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--stop", g.stop, "stop when this text appears (repeatable)");
  cmd.add_flag("--ignore-eos", g.ignore_eos, "keep generating past end-of-generation tokens");
  add_sampling_options(cmd, g.sampling);
}

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt, streamed to stdout");
  add_model_options(*cmd, o->model);
  add_generation_options(*cmd, o->gen);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (special tokens like <|im_start|> are recognised)");
  cmd->add_option("-f,--file", o->prompt_file, "read the prompt from this file");
  cmd->add_option("--prompt-ids", o->prompt_ids, "prompt as token ids, e.g. 1,2,3 (no BOS is added)");
  cmd->add_flag("--no-special", o->no_special, "do not add BOS/EOS to the text prompt");
  cmd->add_flag("--json", o->json, "print the prompt ids, generated ids and text as JSON instead of streaming");
  cmd->add_option("--logits-out", o->logits_out, "write float32 logits of every prompt position (positions x vocab)");
  cmd->add_option("--image", o->images,
                  "an image for a vision-language model (JPEG, PNG, WebP, GIF; repeatable; needs --mmproj): placed "
                  "where the prompt says <__image__>, else before the text");
  cmd->add_option("--mmproj", o->mmproj, "the model's vision tower + projector GGUF (llama.cpp's mmproj; LLaVA)");
  cmd->callback([o] {
    if (o->mmproj.empty())
      for (const std::string& path : o->images) fail_image_without_mmproj(path, o->model);
    run(*o);
  });
}

}  // namespace hayate::cli
