#include "engine/encoder_requests.h"

#include <string>

#include "core/error.h"
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

void check_encoder_request(const BertModel& model, const Request& request) {
  check_encoder_input(model, request.prompt, request.token_types);
}

std::vector<std::vector<float>> run_encoder(const BertModel& model, std::span<const Request* const> requests,
                                            Backend& backend) {
  std::vector<EncoderInput> inputs;
  for (const Request* r : requests) inputs.push_back({r->prompt, r->token_types});
  if (requests.empty() || requests[0]->kind != RequestKind::Score) return encoder_embed(model, inputs, backend);
  std::vector<std::vector<float>> out;
  for (const float score : encoder_score(model, inputs, backend)) out.push_back({score});
  return out;
}

}  // namespace hayate
