// `hayate chat`: interactive multi-turn chat on stdin/stdout. A text-only model keeps one Session
// whose KV cache grows turn by turn; with --mmproj the conversation goes through the serving
// engine, which is what places image rows (as `hayate run --image` does), resubmitted whole each
// turn so that the prefix cache, keyed by image pixels, reuses the turns before.
#include <iostream>

#include "cli/chat_format.h"
#include "cli/common.h"
#include "cli/image_input.h"
#include "cli/rag_client.h"
#include "core/error.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "vision/embed.h"

namespace hayate::cli {
namespace {

struct ChatOptions {
  ModelOptions model;
  GenerateOptions gen;
  std::string system, mmproj;
};

constexpr const char* kHelp =
    "  /image FILE  attach an image (JPEG, PNG, WebP or GIF) to your next message (needs --mmproj)\n"
    "  /help        this list\n"
    "  /exit        quit\n";

// "/image FILE" -> FILE ("" when none); nullopt for a line that is not the /image command.
std::optional<std::string> image_command(const std::string& line) {
  if (line != "/image" && line.rfind("/image ", 0) != 0) return std::nullopt;
  const size_t begin = line.find_first_not_of(' ', 6);
  if (begin == std::string::npos) return std::string();
  return line.substr(begin, line.find_last_not_of(' ') + 1 - begin);
}

// The conversation as the engine sees it: every turn's ids, each image at its position.
class ImageChat {
 public:
  ImageChat(LoadedModel& lm, const ChatOptions& o)
      : tokenizer_(*lm.tokenizer), embedder_(o.mmproj, lm.model->hp, "cpu", o.model.threads), gen_(o.gen) {
    EngineConfig config;
    config.n_ctx = lm.n_ctx;
    config.max_batch_tokens = o.model.batch_tokens;
    config.kv_blocks = o.model.kv_blocks;
    engine_ = std::make_unique<Engine>(*lm.model, std::move(lm.backend), lm.tokenizer.get(), config);
  }

  void attach(const std::string& path) {
    const image::Decoded decoded = read_image(path);  // its errors name the file already
    try {
      pending_.push_back(embedder_.embed(decoded));
    } catch (const Error& e) {
      fail(e.kind(), path + ": " + e.what());
    }
  }
  size_t pending() const { return pending_.size(); }

  // One rendered user turn (with a marker per pending image) and its answer, streamed. On an error
  // the turn is forgotten, images included, and the conversation goes on from before it.
  void turn(const std::string& text, bool first) {
    const size_t n_ids = ids_.size(), n_images = images_.size();
    std::vector<vision::ImageRows> rows = std::move(pending_);
    pending_.clear();
    try {
      vision::ImagePrompt p =
          vision::tokenize_with_images(tokenizer_, text, kImageMarker, rows, embedder_.image_token(), first);
      for (EmbeddingRows& image : p.images) image.position += static_cast<int32_t>(n_ids);
      ids_.insert(ids_.end(), p.ids.begin(), p.ids.end());
      images_.insert(images_.end(), p.images.begin(), p.images.end());
      Request r;
      r.prompt = ids_;
      r.images = images_;
      r.options = gen_;
      const std::shared_ptr<RequestHandle> handle = engine_->submit(std::move(r));
      std::vector<int32_t> answer;
      for (std::optional<Event> e = handle->next(); e; e = handle->next()) {
        if (e->kind == Event::Token) {
          answer.push_back(e->token);
          std::cout << e->text << std::flush;
        } else if (e->kind == Event::Error) {
          fail(e->error_kind, e->error);
        } else {
          break;
        }
      }
      ids_.insert(ids_.end(), answer.begin(), answer.end());
    } catch (const Error&) {
      ids_.resize(n_ids);
      images_.resize(n_images);
      throw;
    }
  }

 private:
  const Tokenizer& tokenizer_;
  vision::ImageEmbedder embedder_;
  GenerateOptions gen_;
  std::unique_ptr<Engine> engine_;
  std::vector<vision::ImageRows> pending_;
  std::vector<int32_t> ids_;
  std::vector<EmbeddingRows> images_;
};

void run_local_chat(const ChatOptions& o) {
  LoadedModel lm = load_model(o.model);
  if (!lm.tokenizer) fail(ErrorKind::BadInput, "chat needs a model with a tokenizer");
  const ChatFormat format = detect_chat_format(*lm.model->file);
  std::cerr << "hayate chat: " << lm.model->file->get_string("general.name", lm.model->hp.arch) << " (format "
            << chat_format_name(format) << "); /help lists the commands, /exit quits\n";
  const Tokenizer& tok = *lm.tokenizer;
  std::unique_ptr<ImageChat> images;
  std::unique_ptr<Session> session;
  if (o.mmproj.empty())
    session = std::make_unique<Session>(*lm.model, *lm.backend, lm.n_ctx);
  else
    images = std::make_unique<ImageChat>(lm, o);
  bool first = true;
  std::string line;
  while (true) {
    std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    if (line == "/help") {
      std::cout << kHelp;
      continue;
    }
    if (const std::optional<std::string> path = image_command(line)) {
      try {
        if (path->empty()) fail(ErrorKind::BadInput, "/image needs a file: /image photo.jpg");
        if (!images) fail_image_without_mmproj(*path, o.model);
        images->attach(*path);
        std::cerr << "hayate: " << *path << " attached (" << images->pending() << " for your next message)\n";
      } catch (const Error& e) {
        std::cerr << "hayate: " << e.what() << (images ? "\n" : "; start hayate chat with --mmproj FILE for images\n");
      }
      continue;
    }
    if (images) {
      std::string user = line;
      if (user.find(kImageMarker) == std::string::npos)
        for (size_t i = 0; i < images->pending(); ++i) user.insert(0, kImageMarker);
      try {
        images->turn(render_turn(format, first ? o.system : "", user, first), first);
        first = false;
      } catch (const Error& e) {
        std::cerr << "\nhayate: " << e.what();
      }
      std::cout << "\n";
      continue;
    }
    const std::string text = render_turn(format, first ? o.system : "", line, first);
    std::vector<int32_t> ids = tok.encode(text, first, true);
    first = false;
    GenerateResult r = session->generate(ids, o.gen, &tok, [](const std::string& t) { std::cout << t << std::flush; });
    std::cout << "\n";
    // The end-of-turn token closes the assistant turn in the cache, as the template expects.
    if (r.finish_reason == FinishReason::Stop && !r.tokens.empty() && tok.is_end_of_generation(r.tokens.back()) &&
        session->n_past() < session->n_ctx()) {
      const int32_t eot = r.tokens.back();
      session->feed(std::span<const int32_t>(&eot, 1), false);
    }
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand(
      "chat", "interactive multi-turn chat on stdin/stdout (/image FILE with --mmproj, /help, /exit to quit)");
  o->gen.max_tokens = 512;
  add_model_options(*cmd, o->model);
  add_generation_options(*cmd, o->gen);
  cmd->add_option("--system", o->system, "system prompt");
  cmd->add_option("--mmproj", o->mmproj,
                  "the model's vision tower + projector GGUF (llama.cpp's mmproj; LLaVA), for /image FILE");
  auto rag = std::make_shared<RagChatOptions>();
  cmd->add_option("--rag", rag->collection, "answer from this collection of the server at --url, citing sources");
  cmd->add_option("--url", rag->url, "with --rag: the server, e.g. http://127.0.0.1:8080");
  cmd->add_option("--api-key", rag->api_key, "with --rag: the server's API key")->envname("HAYATE_API_KEY");
  cmd->add_option("--rag-top-k", rag->top_k, "with --rag: chunks retrieved per turn")->capture_default_str();
  cmd->callback([o, rag] {
    if (!rag->collection.empty()) {
      if (!o->mmproj.empty()) fail(ErrorKind::BadInput, "--mmproj is for a local chat; --rag chats with a server");
      rag->system = o->system;
      rag->max_tokens = o->gen.max_tokens;
      rag->temperature = o->gen.sampling.temperature;
      run_rag_chat(*rag);
      return;
    }
    if (!rag->url.empty())
      fail(ErrorKind::BadInput, "--url is for chat --rag COLLECTION; without it chat runs locally");
    run_local_chat(*o);
  });
}

}  // namespace hayate::cli
