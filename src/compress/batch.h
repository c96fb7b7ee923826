// Many texts at once: grouped by the similarity of their embeddings (the seed's threshold 0.8),
// each group then compressed together, lossless groups in shared forward steps and semantic
// ones as concurrent requests to the engine's continuous batching. An item that fails is
// reported with its error; the others go on.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "compress/compressor.h"

namespace hayate::compress {

struct BatchItem {
  std::string name;
  std::string text;
};

struct BatchOptions {
  bool semantic = false;
  SemanticOptions semantic_options;
  bool group = true;                         // group by similarity (else one group, in order)
  double threshold = 0.8;                    // cosine to a group's first member to join it
  int32_t max_group = 32;                    // items per group at most
  int32_t concurrency = 4;                   // semantic items of a group in flight at once
  size_t max_item_bytes = size_t{64} << 20;  // larger items fail alone
  size_t embed_bytes = 256;                  // of each item's start, embedded for grouping
};

struct BatchOutcome {
  std::string name;
  bool ok = false;
  std::string error;
  std::vector<uint8_t> file;
  int32_t group = -1;
  double seconds = 0;  // its group's time, shared among its members by size
  Quality quality;     // semantic only
};

// Groups of item indices: each item joins the first group whose first member's embedding is
// at least `threshold` similar (and which has room), else starts one.
std::vector<std::vector<size_t>> group_by_similarity(const std::vector<std::vector<float>>& embeddings,
                                                     double threshold, size_t max_group);

// progress(done, total) after each item.
std::vector<BatchOutcome> run_batch(Compressor& c, const std::vector<BatchItem>& items, const BatchOptions& options,
                                    const std::function<void(size_t, size_t)>& progress = {});

}  // namespace hayate::compress
