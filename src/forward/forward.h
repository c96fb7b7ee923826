// The forward pass: the one place an architecture's layers are written, over the operations of
// the backend interface. It sits above both the model (hyper-parameters and weight views) and
// the backends, so neither of those needs the other's callers. The backend may be a
// SplitBackend (forward/split.h): then each range of layers runs on its own backend and cache; or
// a TensorParallelBackend (forward/tensor_parallel.h): then every rank runs every layer on its slice.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "model/batch.h"
#include "model/model.h"

namespace hayate {

// One forward step: appends the batch's keys and values to the cache and returns the logits of
// the tokens whose `logits` flag is set, in batch order (n_outputs x n_vocab, row-major).
std::vector<float> forward(const Model& model, const Batch& batch, KvCache& kv, Backend& backend);

// The same step, leaving the logits in the backend's memory (n_outputs x n_vocab; no rows when no
// token wants logits), valid until the backend's next reset_scratch(): for sampling there.
Tensor forward_logits(const Model& model, const Batch& batch, KvCache& kv, Backend& backend);

// The same step, returning instead the final hidden states (after the output norm) of the tokens
// whose `logits` flag is set (n_outputs x n_embd): what embeddings are pooled from.
std::vector<float> forward_hidden(const Model& model, const Batch& batch, KvCache& kv, Backend& backend);

}  // namespace hayate
