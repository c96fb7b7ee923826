// Chunking: spans that cite the document exactly, headings that start chunks and name their
// section, the token limit, overlap of whole blocks, and cuts inside an over-long paragraph.
#include <gtest/gtest.h>

#include "core/error.h"
#include "rag/chunker.h"

namespace hayate::rag {
namespace {

// One token per word: easy to reason about in the expectations.
size_t words(std::string_view s) {
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    n += !space && !in;
    in = !space;
  }
  return n;
}

void expect_spans_exact(std::string_view doc, const std::vector<Chunk>& chunks) {
  for (const Chunk& c : chunks) {
    ASSERT_LE(c.end, doc.size());
    EXPECT_EQ(c.text, doc.substr(c.start, c.end - c.start));
  }
}

TEST(Chunker, HeadingsStartChunksAndNameTheirSection) {
  const std::string doc =
      "# Alpha\n\nFirst paragraph of alpha.\n\nSecond paragraph of alpha.\n\n## Beta part\n\nOnly beta text.\n";
  const auto chunks = chunk_document(doc, {.max_tokens = 50, .overlap_tokens = 0}, words);
  ASSERT_EQ(chunks.size(), 2u);
  expect_spans_exact(doc, chunks);
  EXPECT_EQ(chunks[0].section, "Alpha");
  EXPECT_EQ(chunks[0].text, "# Alpha\n\nFirst paragraph of alpha.\n\nSecond paragraph of alpha.");
  EXPECT_EQ(chunks[1].section, "Beta part");
  EXPECT_EQ(chunks[1].text, "## Beta part\n\nOnly beta text.");
}

TEST(Chunker, KeepsToTheLimitAndOverlapsWholeParagraphs) {
  std::string doc;
  for (int i = 0; i < 10; ++i) {
    doc += "para";  // appended piece by piece: g++ 12 warns falsely (-Wrestrict) on a + b + c here
    doc += std::to_string(i);
    doc += " has four words\n\n";
  }
  const auto chunks = chunk_document(doc, {.max_tokens = 12, .overlap_tokens = 4}, words);
  expect_spans_exact(doc, chunks);
  ASSERT_GE(chunks.size(), 4u);
  for (const Chunk& c : chunks) EXPECT_LE(words(c.text), 12u) << c.text;
  for (size_t i = 1; i < chunks.size(); ++i) {
    EXPECT_LT(chunks[i].start, chunks[i - 1].end) << "chunk " << i << " does not overlap the one before";
    EXPECT_GT(chunks[i].end, chunks[i - 1].end);
  }
  EXPECT_EQ(chunks.front().start, 0u);
  EXPECT_EQ(chunks.back().text.substr(chunks.back().text.size() - 14), "has four words");
  EXPECT_NE(chunks.back().text.find("para9"), std::string::npos);
}

TEST(Chunker, CutsAnOverlongParagraphAtWords) {
  std::string doc;
  for (int i = 0; i < 25; ++i) {
    doc += "w";
    doc += std::to_string(i);
    doc += " ";
  }
  const auto chunks = chunk_document(doc, {.max_tokens = 10, .overlap_tokens = 0}, words);
  expect_spans_exact(doc, chunks);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(words(chunks[0].text), 10u);
  EXPECT_EQ(chunks[0].text.substr(0, 3), "w0 ");
  EXPECT_EQ(chunks[2].text.substr(0, 4), "w20 ");
}

TEST(Chunker, KeepsAFencedCodeBlockWhole) {
  const std::string doc = "Intro.\n\n```\ncode line\n\nmore code\n```\n\nOutro.";
  const auto chunks = chunk_document(doc, {.max_tokens = 6, .overlap_tokens = 0}, words);
  expect_spans_exact(doc, chunks);
  bool whole = false;
  for (const Chunk& c : chunks) whole |= c.text == "```\ncode line\n\nmore code\n```";
  EXPECT_TRUE(whole);
}

TEST(Chunker, EmptyDocumentsHaveNoChunksAndBadOptionsAreRefused) {
  EXPECT_TRUE(chunk_document("", {}, words).empty());
  EXPECT_TRUE(chunk_document(" \n\n\t\n", {}, words).empty());
  EXPECT_THROW(chunk_document("x", {.max_tokens = 0, .overlap_tokens = 0}, words), Error);
  EXPECT_THROW(chunk_document("x", {.max_tokens = 8, .overlap_tokens = 8}, words), Error);
}

}  // namespace
}  // namespace hayate::rag
