// What the engine does for a BERT-family encoder (Model::encoder): embeddings and cross-encoder
// scores through forward/encoder.h, and which request kinds each model takes.
#pragma once

#include <vector>

#include "engine/request.h"
#include "model/bert.h"
#include "model/model.h"

namespace hayate {

class ThreadPool;

// Error(BadInput) for a request the model cannot answer: a generation (or a Score) for an
// encoder that does not do it, an embedding of a reranker, a Score for a decoder, token types
// that do not match the prompt.
void check_request_kind(const Model& model, const Request& request);

// Embed: the pooled embedding; Score: the one-element vector {score}.
std::vector<float> run_encoder(const BertModel& model, const Request& request, ThreadPool* pool);

}  // namespace hayate
