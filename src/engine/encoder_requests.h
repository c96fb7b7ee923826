// What the engine does for a BERT-family encoder (Model::encoder): embeddings and cross-encoder
// scores of a group of requests in one pass of forward/encoder.h on the engine's backend, and
// which request kinds each model takes.
#pragma once

#include <span>
#include <vector>

#include "backend/backend.h"
#include "engine/request.h"
#include "model/bert.h"
#include "model/model.h"

namespace hayate {

// Error(BadInput) for a request the model cannot answer: a generation (or a Score) for an
// encoder that does not do it, an embedding of a reranker, a Score for a decoder, token types
// that do not match the prompt.
void check_request_kind(const Model& model, const Request& request);

// Error(BadInput) for an input the encoder cannot take (forward/encoder.h: check_encoder_input),
// so that one bad request does not fail the others of its pass.
void check_encoder_request(const BertModel& model, const Request& request);

// Requests of one kind (all Embed or all Score) as one pass: per request, Embed gives the pooled
// embedding, Score the one-element vector {score}.
std::vector<std::vector<float>> run_encoder(const BertModel& model, std::span<const Request* const> requests,
                                            Backend& backend);

}  // namespace hayate
