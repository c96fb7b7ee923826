// LlavaForConditionalGeneration directories: the language model is written as its own
// architecture's GGUF (the text_config, tensors under language_model), the CLIP vision tower and
// the projector as an mmproj GGUF with llama.cpp's clip names and keys (vision/clip.h).
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "convert/convert.h"
#include "convert/hf_config.h"
#include "convert/safetensors.h"

namespace hayate::convert {

// A source tensor's name as the language model's converter knows it ("model.layers.0...");
// nullopt: the tensor belongs to another part and is skipped without a warning.
using SourceName = std::function<std::optional<std::string>(const std::string&)>;

// The language-model half of convert_hf (hf_model.cpp), with the source names mapped.
void write_language_model(const std::string& dir, const HfConfig& cfg, const std::string& out_path, const Options& opt,
                          std::ostream& log, const SourceName& rename);
// The type --outtype gives a 2-D tensor of this source dtype.
GgmlType matrix_type(const std::string& out_type, StDtype source);

bool is_llava_dir(const std::string& dir);
// Writes out_path (the language model) and opt.mmproj_path (default: mmproj-<out file name> beside it).
void convert_llava(const std::string& dir, const std::string& out_path, const Options& opt, std::ostream& log);

}  // namespace hayate::convert
