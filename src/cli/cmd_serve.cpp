// `hayate serve`: the OpenAI-compatible HTTP server. Every option comes from the server's config
// table (server/config.h), so the flags, the TOML keys, the HAYATE_* variables and this help
// cannot disagree.
#ifdef HAYATE_HAVE_SERVER

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/common.h"
#include "core/error.h"
#include "server/config.h"
#include "server/http_server.h"

namespace hayate::cli {
namespace {

struct GivenFlag {
  const server::ConfigField* field;
  CLI::Option* on = nullptr;   // --name (a value, or true for a switch)
  CLI::Option* off = nullptr;  // --no-name for switches that default to true
  std::string text;
  std::vector<std::string> list;
};

struct ServeOptions {
  std::string config_file;
  bool print_config = false;
  std::vector<GivenFlag> flags;
};

std::string help_text(const server::ConfigField& f) {
  static const server::ServerConfig defaults;
  return std::string(f.help) + " [default " + server::toml_value(f, defaults) + "; env " + f.env_var() + "; TOML " +
         std::string(f.name) + "]";
}

server::ServerConfig merged_config(const ServeOptions& o) {
  server::ServerConfig c;
  if (!o.config_file.empty()) server::apply_toml_file(c, o.config_file);
  server::apply_environment(c);
  for (const GivenFlag& g : o.flags) {
    const std::string flag = g.field->flag();
    if (std::holds_alternative<bool server::ServerConfig::*>(g.field->ref)) {
      if (g.on && g.on->count()) server::set_from_text(*g.field, c, "true", flag);
      if (g.off && g.off->count()) server::set_from_text(*g.field, c, "false", flag);
    } else if (g.on->count()) {
      std::string text = g.text;
      if (std::holds_alternative<std::vector<std::string> server::ServerConfig::*>(g.field->ref)) {
        text.clear();
        for (const std::string& item : g.list) text += (text.empty() ? "" : ",") + item;
      }
      server::set_from_text(*g.field, c, text, flag);
    }
  }
  return c;
}

server::LoadedModel load(const server::ServerConfig& c) {
  ModelOptions mo;
  mo.path = c.model;
  mo.backend = c.backend;
  mo.device.device = c.device;
  mo.device.gpu_memory_fraction = c.gpu_memory_fraction;
  mo.device.cuda_graphs = c.cuda_graphs;
  mo.device.gpu_layers = parse_gpu_layers(c.gpu_layers);
  mo.device.tensor_parallel = static_cast<int32_t>(c.tensor_parallel);
  mo.kv_blocks = static_cast<int32_t>(c.kv_blocks);
  mo.kv_block_size = EngineConfig{}.block_size;
  mo.batch_tokens = static_cast<int32_t>(c.max_batch_tokens);
  mo.threads = static_cast<int>(c.threads);
  mo.ctx_size = static_cast<int32_t>(c.ctx_size);
  LoadedModel lm = load_model(mo);
  server::LoadedModel out;
  out.model = std::move(lm.model);
  out.tokenizer = std::move(lm.tokenizer);
  out.backend = std::move(lm.backend);
  out.path = c.model.empty() ? default_model_path() : c.model;
  out.mmproj = c.mmproj;
  out.threads = static_cast<int>(c.threads);
  // The synthetic models (`hayate synth`, and the default of builds without the demo model) say
  // "random weights" in their name.
  out.random_weights = out.model->file->get_string("general.name", "").find("random") != std::string::npos;
  if (c.model.empty()) {
    const std::string prefix = "embedded:";
    out.id = out.random_weights               ? "hayate-default-random"
             : out.path.rfind(prefix, 0) == 0 ? out.path.substr(prefix.size())
                                              : "hayate-default";
  }
  // A model from the store is served under its store name, not its file's.
  if (!c.model.empty() && !std::filesystem::exists(c.model)) out.id = c.model;
  out.load_seconds = lm.load_seconds;
  return out;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, "
      "/v1/responses, /v1/rerank, /v1/score, /v1/collections, /v1/tasks/*, /v1/conversations, /health, /metrics), "
      "Ollama's /api/*, and a web chat and dashboard at / (WebSocket /v1/ws). Settings come from --config FILE, "
      "then HAYATE_* variables, then these flags. Several models: [[models]] tables in the config file (name, "
      "file, device, context, keep_loaded, keep_alive, aliases), loaded on demand within max_loaded_models and "
      "model_memory_budget; GET /v1/models shows their state, POST /v1/models/{id}/load and /unload.");
  cmd->add_option("--config", o->config_file, "TOML file of settings (keys as named below)");
  cmd->add_flag("--print-config", o->print_config, "print the merged settings as TOML and exit");
  o->flags.reserve(server::config_fields().size());
  for (const server::ConfigField& f : server::config_fields()) {
    GivenFlag& g = o->flags.emplace_back();
    g.field = &f;
    const std::string names = (f.short_flag.empty() ? "" : std::string(f.short_flag) + ",") + f.flag();
    if (std::holds_alternative<bool server::ServerConfig::*>(f.ref)) {
      g.on = cmd->add_flag(names)->description(help_text(f));
      if (f.name.substr(0, 3) != "no_") {
        g.off = cmd->add_flag("--no-" + f.flag().substr(2))->description("turn " + f.flag() + " off");
      }
    } else if (std::holds_alternative<std::vector<std::string> server::ServerConfig::*>(f.ref)) {
      g.on = cmd->add_option(names, g.list, help_text(f))->delimiter(',')->type_name("LIST");
    } else {
      const bool integer = std::holds_alternative<int64_t server::ServerConfig::*>(f.ref);
      const bool number = std::holds_alternative<double server::ServerConfig::*>(f.ref);
      g.on = cmd->add_option(names, g.text, help_text(f))->type_name(integer ? "INT" : number ? "NUMBER" : "TEXT");
    }
  }
  cmd->callback([o] {
    const server::ServerConfig config = merged_config(*o);
    if (o->print_config) {
      std::cout << server::to_toml(config);
      return;
    }
    const int code = server::run_server(config, load);
    if (code != 0) std::exit(code);
  });
}

}  // namespace hayate::cli

#endif  // HAYATE_HAVE_SERVER
