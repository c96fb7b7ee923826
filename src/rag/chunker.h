// Token-based chunking of a text or Markdown document for retrieval. A chunk is always one
// contiguous span of the document (so its offsets cite the source exactly) made of whole blocks
// (paragraphs, list items, code blocks) up to max_tokens; a heading starts a new chunk and is
// carried as the chunk's section; consecutive chunks of one section share up to overlap_tokens
// of whole trailing blocks. A block longer than max_tokens is cut at word boundaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::rag {

struct ChunkOptions {
  int32_t max_tokens = 256;
  int32_t overlap_tokens = 32;
};

struct Chunk {
  size_t start = 0, end = 0;  // bytes of the document: text == document.substr(start, end - start)
  std::string text;
  std::string section;  // the last Markdown heading before it (without the #s), or empty
};

using TokenCounter = std::function<size_t(std::string_view)>;

// Error(BadInput) for max_tokens < 1 or an overlap not below max_tokens. An empty or all-blank
// document has no chunks.
std::vector<Chunk> chunk_document(std::string_view document, const ChunkOptions& options,
                                  const TokenCounter& count_tokens);

}  // namespace hayate::rag
