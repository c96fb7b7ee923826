#include "rag/chunker.h"

#include <cctype>

#include "core/error.h"

namespace hayate::rag {
namespace {

struct Block {
  size_t start, end;
  bool heading;
  size_t tokens = 0;
};

bool blank(std::string_view line) {
  for (char c : line)
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}

bool is_heading(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && line[n] == '#') ++n;
  return n >= 1 && n <= 6 && n < line.size() && line[n] == ' ';
}

// Paragraphs (runs of non-blank lines) and headings (one line each), as spans without the
// trailing newline. A fenced code block is one block even across blank lines.
std::vector<Block> split_blocks(std::string_view doc) {
  std::vector<Block> blocks;
  size_t pos = 0;
  bool open = false, fenced = false;
  size_t block_start = 0, block_end = 0;
  auto close = [&] {
    if (open) blocks.push_back({block_start, block_end, false});
    open = false;
  };
  while (pos < doc.size()) {
    size_t eol = doc.find('\n', pos);
    if (eol == std::string_view::npos) eol = doc.size();
    std::string_view line = doc.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const bool fence = line.substr(0, 3) == "```";
    if (fenced || fence) {
      if (!open) block_start = pos;
      open = true;
      block_end = pos + line.size();
      if (fence) fenced = !fenced;
    } else if (blank(line)) {
      close();
    } else if (is_heading(line)) {
      close();
      blocks.push_back({pos, pos + line.size(), true});
    } else {
      if (!open) block_start = pos;
      open = true;
      block_end = pos + line.size();
    }
    pos = eol + 1;
  }
  close();
  return blocks;
}

// A block over the limit as pieces of at most max_tokens, cut after whitespace.
std::vector<Block> cut_block(std::string_view doc, const Block& b, size_t max_tokens, const TokenCounter& count) {
  std::vector<Block> out;
  size_t start = b.start;
  while (start < b.end) {
    size_t end = start, last_fit = start;
    while (end < b.end) {
      size_t next = end;
      while (next < b.end && std::isspace(static_cast<unsigned char>(doc[next]))) ++next;
      while (next < b.end && !std::isspace(static_cast<unsigned char>(doc[next]))) ++next;
      if (count(doc.substr(start, next - start)) > max_tokens) break;
      end = last_fit = next;
    }
    if (last_fit == start) {  // one word over the limit: cut it by bytes, on a UTF-8 boundary
      size_t cut = start + 1;
      while (cut < b.end && count(doc.substr(start, cut + 1 - start)) <= max_tokens) ++cut;
      while (cut < b.end && (static_cast<unsigned char>(doc[cut]) & 0xC0) == 0x80) ++cut;
      last_fit = cut;
    }
    out.push_back({start, last_fit, false, count(doc.substr(start, last_fit - start))});
    start = last_fit;
    while (start < b.end && std::isspace(static_cast<unsigned char>(doc[start]))) ++start;
  }
  return out;
}

}  // namespace

std::vector<Chunk> chunk_document(std::string_view doc, const ChunkOptions& o, const TokenCounter& count) {
  if (o.max_tokens < 1) fail(ErrorKind::BadInput, "chunking: max_tokens must be at least 1");
  if (o.overlap_tokens < 0 || o.overlap_tokens >= o.max_tokens)
    fail(ErrorKind::BadInput, "chunking: overlap_tokens must be at least 0 and below max_tokens");
  const auto max = static_cast<size_t>(o.max_tokens), overlap = static_cast<size_t>(o.overlap_tokens);

  std::vector<Chunk> chunks;
  std::string section;
  std::vector<Block> current;  // the blocks of the chunk being filled
  size_t current_tokens = 0;
  auto emit = [&] {
    if (current.empty()) return;
    Chunk c;
    c.start = current.front().start;
    c.end = current.back().end;
    c.text = std::string(doc.substr(c.start, c.end - c.start));
    c.section = section;
    chunks.push_back(std::move(c));
  };
  // Starts the next chunk of the same section with the previous one's trailing blocks that fit
  // in the overlap (and leave room for `incoming` tokens).
  auto roll_over = [&](size_t incoming) {
    std::vector<Block> kept;
    size_t kept_tokens = 0;
    for (auto it = current.rbegin(); it != current.rend(); ++it) {
      if (kept_tokens + it->tokens > overlap || kept_tokens + it->tokens + incoming > max) break;
      kept.insert(kept.begin(), *it);
      kept_tokens += it->tokens;
    }
    current = std::move(kept);
    current_tokens = kept_tokens;
  };

  for (Block b : split_blocks(doc)) {
    if (b.heading) {
      emit();
      current.clear();
      current_tokens = 0;
      std::string_view line = doc.substr(b.start, b.end - b.start);
      while (!line.empty() && line.front() == '#') line.remove_prefix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      section = std::string(line);
      b.tokens = count(doc.substr(b.start, b.end - b.start));
      if (b.tokens > max) continue;  // a heading that alone overflows is kept as the section only
      current.push_back(b);          // the heading opens its section's first chunk
      current_tokens = b.tokens;
      continue;
    }
    b.tokens = count(doc.substr(b.start, b.end - b.start));
    std::vector<Block> pieces = b.tokens > max ? cut_block(doc, b, max, count) : std::vector<Block>{b};
    for (const Block& p : pieces) {
      // The blank lines between blocks are in the span but not counted: a few tokens at most.
      if (!current.empty() && current_tokens + p.tokens > max) {
        if (current.size() == 1 && current.front().heading) {
          current.clear();  // no chunk of a lone heading: the section names it
          current_tokens = 0;
        } else {
          emit();
          roll_over(p.tokens);
        }
      }
      current.push_back(p);
      current_tokens += p.tokens;
    }
  }
  emit();
  return chunks;
}

}  // namespace hayate::rag
