#include "store/summary.h"

#include <cstdio>
#include <map>

#include "core/ggml_types.h"
#include "gguf/gguf.h"
#include "quant/mix.h"

namespace hayate::store {

ModelSummary summarize(const std::filesystem::path& file) {
  const std::unique_ptr<gguf::File> f = gguf::File::open(file.string());
  ModelSummary s;
  s.file_size = f->file_size();
  s.architecture = f->get_string("general.architecture", "");
  s.model_name = f->get_string("general.name", "");
  const std::string a = s.architecture + ".";
  s.context_length = f->get_i64(a + "context_length", 0);
  s.embedding_length = f->get_i64(a + "embedding_length", 0);
  s.block_count = f->get_i64(a + "block_count", 0);
  s.expert_count = f->get_i64(a + "expert_count", 0);
  s.expert_used_count = f->get_i64(a + "expert_used_count", 0);
  s.chat_template = f->get_string("tokenizer.chat_template", "");
  std::map<GgmlType, uint64_t> bytes;
  for (const gguf::TensorInfo& t : f->tensors()) {
    s.parameters += static_cast<uint64_t>(t.n_elements());
    bytes[t.type] += t.nbytes;
  }
  if (const gguf::Value* ft = f->find("general.file_type"); ft && ft->is_integer())
    if (const auto type = quant::file_type_from_gguf_id(static_cast<uint32_t>(ft->as_u64())))
      s.quantization = quant::file_type_name(*type);
  if (s.quantization.empty() && !bytes.empty()) {
    auto most = bytes.begin();
    for (auto it = bytes.begin(); it != bytes.end(); ++it)
      if (it->second > most->second) most = it;
    s.quantization = ggml_type_name(most->first);
  }
  return s;
}

std::string short_count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  else if (n >= 1000000ull)
    std::snprintf(buf, sizeof buf, "%.0fM", static_cast<double>(n) / 1e6);
  else if (n >= 1000ull)
    std::snprintf(buf, sizeof buf, "%.1fK", static_cast<double>(n) / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  return buf;
}

}  // namespace hayate::store
