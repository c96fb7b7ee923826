// `hayate run` (one prompt, streamed) and `hayate chat` (interactive, multi-turn).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/chat_format.h"
#include "cli/common.h"
#include "cli/rag_client.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "image/image.h"
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

// The model's id as `hayate serve` gives it, so that both say the same error.
std::string model_name(const ModelOptions& m) {
  const std::string path = m.path.empty() ? default_model_path() : m.path;
  const std::string prefix = "embedded:";
  return path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : std::filesystem::path(path).stem().string();
}

// --image and /image: the file read and decoded as the server decodes an image_url part (same
// limits, same errors).
image::Decoded read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, path + ": cannot open the image");
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  try {
    return image::decode(bytes, image::Limits{});
  } catch (const Error& e) {
    fail(e.kind(), path + ": " + e.what());
  }
}

// Without an mmproj, refused as the server refuses it.
void check_image(const std::string& path, const ModelOptions& m) {
  read_image(path);
  image::fail_text_only(model_name(m));
}

// The image marker of the API: `hayate run -p` puts each --image where the prompt says it (or
// before the text when it says nowhere), as the server puts an image_url part.
constexpr std::string_view kImageMarker = "<__image__>";

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

void add_generation_options(CLI::App& cmd, GenerateOptions& g) {
  cmd.add_option("-n,--max-tokens", g.max_tokens, "most tokens to generate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--stop", g.stop, "stop when this text appears (repeatable)");
  cmd.add_flag("--ignore-eos", g.ignore_eos, "keep generating past end-of-generation tokens");
  add_sampling_options(cmd, g.sampling);
}

}  // namespace

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
      for (const std::string& path : o->images) check_image(path, o->model);
    run(*o);
  });
}

void add_chat_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd =
      app.add_subcommand("chat", "interactive multi-turn chat on stdin/stdout (/image FILE, /exit to quit)");
  o->gen.max_tokens = 512;
  add_model_options(*cmd, o->model);
  add_generation_options(*cmd, o->gen);
  auto system = std::make_shared<std::string>();
  cmd->add_option("--system", *system, "system prompt");
  auto rag = std::make_shared<RagChatOptions>();
  cmd->add_option("--rag", rag->collection, "answer from this collection of the server at --url, citing sources");
  cmd->add_option("--url", rag->url, "with --rag: the server, e.g. http://127.0.0.1:8080");
  cmd->add_option("--api-key", rag->api_key, "with --rag: the server's API key")->envname("HAYATE_API_KEY");
  cmd->add_option("--rag-top-k", rag->top_k, "with --rag: chunks retrieved per turn")->capture_default_str();
  cmd->callback([o, system, rag] {
    if (!rag->collection.empty()) {
      rag->system = *system;
      rag->max_tokens = o->gen.max_tokens;
      rag->temperature = o->gen.sampling.temperature;
      run_rag_chat(*rag);
      return;
    }
    if (!rag->url.empty())
      fail(ErrorKind::BadInput, "--url is for chat --rag COLLECTION; without it chat runs locally");
    LoadedModel lm = load_model(o->model);
    if (!lm.tokenizer) fail(ErrorKind::BadInput, "chat needs a model with a tokenizer");
    ChatFormat format = detect_chat_format(*lm.model->file);
    Session session(*lm.model, *lm.backend, lm.n_ctx);
    std::cerr << "hayate chat: " << lm.model->file->get_string("general.name", lm.model->hp.arch) << " (format "
              << chat_format_name(format) << "); /exit to quit\n";
    bool first = true;
    std::string line;
    while (true) {
      std::cout << "> " << std::flush;
      if (!std::getline(std::cin, line) || line == "/exit") break;
      if (line.empty()) continue;
      if (line.rfind("/image", 0) == 0) {
        const std::string path = line.size() > 7 ? line.substr(7) : "";
        try {
          if (path.empty()) fail(ErrorKind::BadInput, "/image needs a file: /image photo.jpg");
          check_image(path, o->model);
        } catch (const Error& e) {
          std::cerr << "hayate: " << e.what() << "\n";
        }
        continue;
      }
      std::string text = render_turn(format, first ? *system : "", line, first);
      std::vector<int32_t> ids = lm.tokenizer->encode(text, first, true);
      first = false;
      GenerateResult r =
          session.generate(ids, o->gen, lm.tokenizer.get(), [](const std::string& t) { std::cout << t << std::flush; });
      std::cout << "\n";
      // The end-of-turn token closes the assistant turn in the cache, as the template expects.
      if (r.finish_reason == FinishReason::Stop && !r.tokens.empty() &&
          lm.tokenizer->is_end_of_generation(r.tokens.back()) && session.n_past() < session.n_ctx()) {
        const int32_t eot = r.tokens.back();
        session.feed(std::span<const int32_t>(&eot, 1), false);
      }
    }
  });
}

}  // namespace hayate::cli
