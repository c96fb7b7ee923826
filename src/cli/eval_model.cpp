#include "cli/eval_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/ggml_types.h"
#include "gguf/gguf.h"
#include "quant/mix.h"

namespace hayate::cli {

SessionModel::SessionModel(LoadedModel& lm) : lm_(lm), session_(*lm.model, *lm.backend, lm.n_ctx) {
  if (!lm.tokenizer) fail(ErrorKind::BadInput, "eval needs a model with a tokenizer");
}

std::string SessionModel::generate(const eval::GenerateRequest& req) {
  GenerateOptions gen;
  gen.max_tokens = req.max_tokens;
  gen.sampling.temperature = static_cast<float>(req.temperature);
  gen.sampling.seed = req.seed;
  gen.stop = req.stop;
  session_.reset();
  const std::vector<int32_t> ids = lm_.tokenizer->encode(req.prompt, true, true);
  if (static_cast<int32_t>(ids.size()) >= lm_.n_ctx)
    fail(ErrorKind::BadInput, "a prompt of " + std::to_string(ids.size()) + " tokens does not fit the context of " +
                                  std::to_string(lm_.n_ctx) + " (-c)");
  return session_.generate(ids, gen, lm_.tokenizer.get()).text;
}

double SessionModel::loglikelihood(const std::string& context, const std::string& continuation) {
  const std::vector<int32_t> ctx = lm_.tokenizer->encode(context, true, true);
  const std::vector<int32_t> all = lm_.tokenizer->encode(context + continuation, true, true);
  const size_t common =
      static_cast<size_t>(std::mismatch(ctx.begin(), ctx.end(), all.begin(), all.end()).first - ctx.begin());
  if (common == 0 || common >= all.size())
    fail(ErrorKind::BadInput, "cannot tell the continuation's tokens from the prompt's (\"" + continuation + "\")");
  if (static_cast<int32_t>(all.size()) > lm_.n_ctx)
    fail(ErrorKind::BadInput, "a prompt of " + std::to_string(all.size()) + " tokens does not fit the context of " +
                                  std::to_string(lm_.n_ctx) + " (-c)");
  session_.reset();
  const std::vector<float> logits = session_.feed(all, true);
  const int32_t n_vocab = lm_.model->hp.n_vocab;
  double sum = 0;
  for (size_t t = common; t < all.size(); ++t) {
    int32_t top1 = 0;
    sum -= token_nll(logits.data() + (t - 1) * static_cast<size_t>(n_vocab), n_vocab, all[t], &top1);
  }
  return sum;
}

std::string model_label(const LoadedModel& lm, const ModelOptions& o) {
  const std::string path = o.path.empty() ? default_model_path() : o.path;
  return lm.model->file ? lm.model->file->get_string("general.name", path) : path;
}

std::string model_format(const LoadedModel& lm) {
  if (lm.model->file)
    if (const uint64_t id = lm.model->file->get_u64("general.file_type", UINT64_MAX); id != UINT64_MAX)
      if (auto ft = quant::file_type_from_gguf_id(static_cast<uint32_t>(id))) return quant::file_type_name(*ft);
  return lm.model->layers.empty() ? "" : ggml_type_name(lm.model->layers[0].ffn_down.type);
}

}  // namespace hayate::cli
