// `hayate convert`: a Hugging Face model directory (config.json, *.safetensors, tokenizer.json)
// becomes one GGUF file that hayate, llama.cpp and other GGUF readers load.
//
// Supported: the Hugging Face classes of the architecture table (ArchSpec::hf_classes in
// model/model.h: Llama and Mistral -> "llama", Qwen2, Qwen3); F32/F16/BF16 source tensors;
// byte-level BPE tokenizers (Llama 3, Qwen, GPT-2) and SentencePiece-style BPE tokenizers with
// byte fallback (Llama 2, Mistral).
#pragma once

#include <ostream>
#include <string>

namespace hayate::gguf {
class Writer;
}

namespace hayate::convert {

struct Options {
  // Type of the 2-D weights: one of out_type_names(), "auto" keeping the source's
  // f32/f16/bf16. 1-D tensors (norms, biases) are always written as f32.
  std::string out_type = "f16";
  // Write only the tokenizer metadata (plus general.architecture when config.json names a
  // known architecture); no weights are needed.
  bool vocab_only = false;
  // general.name; empty = the directory's name.
  std::string name;
  // LLaVA directories: where the vision tower + projector GGUF goes; empty = "mmproj-<output
  // file name>" beside the output, as llama.cpp names them.
  std::string mmproj_path;
};

// The output types, for help and messages: "f32, f16, bf16, q8_0 or auto".
std::string out_type_names();

// Converts `dir` to a GGUF file at `out_path` (written to out_path + ".tmp", then renamed).
// Progress and warnings (e.g. skipped tensors) go to `log`, one line each.
// Throws Error: NotFound for a missing file, BadInput for a malformed one, Unsupported for an
// architecture, tensor type or tokenizer this converter does not handle.
void convert_hf(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log);

// tokenizer.json (+ tokenizer_config.json, tokenizer.model, config.json, chat_template.jinja when
// present) of `dir` -> tokenizer.* metadata on `w`.
void add_tokenizer_metadata(const std::string& dir, gguf::Writer& w, std::ostream& log);

}  // namespace hayate::convert
