#include "engine/encoder_requests.h"

#include <string>

#include "core/error.h"
#include "engine/engine.h"
#include "forward/encoder.h"

namespace hayate {

void check_request_kind(const Model& model, const Request& request) {
  const std::string name = model.file ? model.file->name() : "the model";
  if (!model.encoder) {
    if (request.kind == RequestKind::Score)
      fail(ErrorKind::BadInput, name + " is not a cross-encoder (a bert reranker); it cannot score pairs");
    return;
  }
  const bool reranker = model.encoder->is_reranker();
  if (request.kind == RequestKind::Generate)
    fail(ErrorKind::BadInput,
         name + " is a bert encoder: it " +
             (reranker ? "scores query-document pairs (/v1/rerank)" : "embeds text (/v1/embeddings)") +
             " and does not generate text");
  if (request.kind == RequestKind::Embed && reranker)
    fail(ErrorKind::BadInput,
         name + " is a reranker (a cross-encoder); it scores pairs (/v1/rerank) and does not embed");
  if (request.kind == RequestKind::Score && !reranker)
    fail(ErrorKind::BadInput, name + " is an embedding model; rerank needs a cross-encoder (pooling rank)");
  if (request.kind == RequestKind::Score && request.token_types.size() != request.prompt.size())
    fail(ErrorKind::BadInput, "a score request needs one token type per prompt id");
}

std::vector<float> run_encoder(const BertModel& model, const Request& request, ThreadPool* pool) {
  if (request.kind == RequestKind::Score) return {bert_score(model, request.prompt, request.token_types, pool)};
  return bert_embed(model, request.prompt, pool);
}

ThreadPool* Engine::encoder_pool() {
  if (!encoder_pool_) encoder_pool_ = std::make_unique<ThreadPool>(0);
  return encoder_pool_.get();
}

}  // namespace hayate
