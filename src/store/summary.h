// What `hayate list` and `hayate show` say about a model file, read from its GGUF metadata and
// tensor table (the mapping only: no weights are touched).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace hayate::store {

struct ModelSummary {
  std::string architecture;  // general.architecture
  std::string model_name;    // general.name, if any
  std::string quantization;  // general.file_type's name, else the type holding the most bytes
  uint64_t parameters = 0;   // elements of all tensors
  int64_t context_length = 0;
  int64_t embedding_length = 0, block_count = 0;
  int64_t expert_count = 0, expert_used_count = 0;  // a mixture of experts: experts, and per token
  std::string chat_template;                        // tokenizer.chat_template, if any
  uint64_t file_size = 0;
};

// Error(BadInput) when `file` is not a GGUF file hayate can read.
ModelSummary summarize(const std::filesystem::path& file);

// "1.2B", "494M", "8.0K": parameter counts as people write them.
std::string short_count(uint64_t n);

}  // namespace hayate::store
