// Model file tools: info, synth, quantize, convert, tokenize.
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "convert/convert.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/info.h"
#include "model/synth.h"
#include "quant/mix.h"
#include "store/store.h"
#include "vision/synth.h"

namespace hayate::cli {

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "print a GGUF file's metadata and tensor table");
  cmd->add_option("file", *path, "GGUF file or a name in the store")->required();
  cmd->add_flag("--json", *json, "machine-readable output");
  cmd->add_flag("--all", *all, "print every item of long arrays");
  cmd->callback([=] {
    auto f = gguf::File::open(store::resolve_model(*path).string());
    if (*json)
      gguf::print_info_json(*f, std::cout);
    else
      gguf::print_info(*f, std::cout, *all);
  });
}

void add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("synth", "write a random-weight model of any supported architecture and shape");
  cmd->add_option("-o,--output", *out, "output GGUF file")->required();
  cmd->add_option("--arch", o->arch, "llama, qwen2, qwen3 or qwen3moe")->capture_default_str();
  cmd->add_option("--n-embd", o->n_embd, "hidden size")->capture_default_str();
  cmd->add_option("--n-layer", o->n_layer, "layers")->capture_default_str();
  cmd->add_option("--n-head", o->n_head, "attention heads")->capture_default_str();
  cmd->add_option("--n-head-kv", o->n_head_kv, "key/value heads (GQA)")->capture_default_str();
  cmd->add_option("--head-dim", o->head_dim, "head size (0 = n-embd / n-head)")->capture_default_str();
  cmd->add_option("--n-ff", o->n_ff, "feed-forward size")->capture_default_str();
  cmd->add_option("--n-ctx", o->n_ctx, "trained context length")->capture_default_str();
  cmd->add_option("--n-vocab", o->n_vocab, "vocabulary rows (0 = the tokenizer's size)")->capture_default_str();
  cmd->add_option("--rope-theta", o->rope_theta, "rope base frequency")->capture_default_str();
  cmd->add_flag("--tie-embeddings", o->tie_embeddings, "no output.weight; reuse token_embd");
  cmd->add_option("--sliding-window", o->sliding_window, "attend to the last N positions only (0 = all)")
      ->capture_default_str();
  cmd->add_option("--experts", o->n_expert, "mixture of experts: experts per layer (0 = a dense feed-forward)")
      ->capture_default_str();
  cmd->add_option("--experts-used", o->n_expert_used, "experts each token is routed to")->capture_default_str();
  cmd->add_option("--n-ff-exp", o->n_ff_exp, "an expert's feed-forward size (0 = n-ff)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed (same seed, same file)")->capture_default_str();
  cmd->add_option("--type", o->file_type, quant::file_type_names())->capture_default_str();
  cmd->add_option("--vocab-from", o->vocab_from, "copy the tokenizer of this GGUF (default: built-in byte tokenizer)");
  cmd->add_option("--name", o->name, "general.name");
  auto mmproj = std::make_shared<std::string>();
  auto clip = std::make_shared<vision::ClipSynthOptions>();
  cmd->add_option("--mmproj", *mmproj, "also write a random CLIP tower + LLaVA projector to this GGUF (a tiny LLaVA)");
  cmd->add_option("--clip-image-size", clip->image_size, "--mmproj: image side in pixels")->capture_default_str();
  cmd->add_option("--clip-patch-size", clip->patch_size, "--mmproj: patch side")->capture_default_str();
  cmd->add_option("--clip-n-embd", clip->n_embd, "--mmproj: tower width")->capture_default_str();
  cmd->add_option("--clip-n-ff", clip->n_ff, "--mmproj: tower feed-forward size")->capture_default_str();
  cmd->add_option("--clip-n-layer", clip->n_layer, "--mmproj: tower layers")->capture_default_str();
  cmd->add_option("--clip-n-head", clip->n_head, "--mmproj: tower heads")->capture_default_str();
  cmd->add_option("--clip-type", clip->type, "--mmproj: f32 or f16 matrices")->capture_default_str();
  cmd->callback([=] {
    synth_model(*o, *out, std::cerr);
    if (mmproj->empty()) return;
    clip->proj_dim = o->n_embd;
    clip->seed = o->seed;
    vision::synth_mmproj(*clip, *mmproj, std::cerr);
  });
}

void add_quantize_command(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  CLI::App* cmd = app.add_subcommand("quantize", "convert a GGUF model's weights to another type or k-quant mix");
  cmd->add_option("input", *in, "input GGUF")->required();
  cmd->add_option("output", *out, "output GGUF")->required();
  cmd->add_option("type", *type, quant::file_type_names() + " (the *_pure ones: one type for every weight)")
      ->required();
  cmd->add_option("-t,--threads", *threads, "threads (0 = all cores)");
  cmd->callback([=] { quantize_model(*in, *out, *type, *threads, std::cerr); });
}

void add_convert_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<convert::Options>();
  CLI::App* cmd = app.add_subcommand("convert", "convert a Hugging Face model directory to GGUF");
  cmd->add_option("dir", *dir, "directory with config.json, *.safetensors, tokenizer.json")->required();
  cmd->add_option("-o,--output", *out, "output GGUF file")->required();
  cmd->add_option("--outtype", o->out_type, convert::out_type_names() + " (auto: keep the source float types)")
      ->capture_default_str();
  cmd->add_flag("--vocab-only", o->vocab_only, "write only the tokenizer (the directory needs only tokenizer files)");
  cmd->add_option("--name", o->name, "general.name");
  cmd->add_option("--mmproj", o->mmproj_path,
                  "LLaVA: the vision tower + projector GGUF (default: mmproj-<output name> beside the output)");
  cmd->callback([=] { convert::convert_hf(*dir, *out, *o, std::cerr); });
}

void add_tokenize_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto from_stdin = std::make_shared<bool>(false);
  auto add_special = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("tokenize", "print the token ids of a text as a JSON array");
  cmd->add_option("-m,--model", *model, "GGUF file with a tokenizer, or a name in the store")->required();
  cmd->add_option("text", *text, "the text (special tokens written in it are recognised)");
  cmd->add_flag("--stdin", *from_stdin, "read the text from standard input");
  cmd->add_flag("--add-special", *add_special, "add BOS/EOS as the model does");
  cmd->callback([=] {
    auto f = gguf::File::open(store::resolve_model(*model).string());
    auto tok = Tokenizer::from_gguf(*f);
    std::string input = *text;
    if (*from_stdin) input.assign(std::istreambuf_iterator<char>(std::cin), {});
    nlohmann::json ids = tok->encode(input, *add_special, true);
    std::cout << ids.dump() << "\n";
  });
}

}  // namespace hayate::cli
