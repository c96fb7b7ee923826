// Image rows in the engine: a sequence's placeholder positions are fed given rows instead of
// their token embeddings, usage counts them as prompt tokens, and the prefix cache keys them by
// the image's content hash, so two images never share keys and values.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "engine/engine.h"
#include "support/engine_support.h"

namespace hayate {
namespace {

using namespace std::chrono_literals;

const test::TinyModel& tiny() {
  static test::TinyModel l = test::make_tiny_model("images-tiny.gguf", 64, 2, 128, 512, "f32");
  return l;
}

std::unique_ptr<Engine> make_engine() {
  EngineConfig c;
  c.n_ctx = 256;
  return std::make_unique<Engine>(*tiny().model, make_backend("cpu", 2), tiny().tokenizer.get(), c);
}

struct Result {
  std::vector<int32_t> tokens;
  Usage usage;
};

Result run(Engine& e, Request r) {
  auto h = e.submit(std::move(r));
  Result out;
  while (auto ev = h->next(60s)) {
    if (ev->kind == Event::Token) out.tokens.push_back(ev->token);
    if (ev->kind == Event::Error) ADD_FAILURE() << ev->error;
    if (ev->kind == Event::Done || ev->kind == Event::Error) out.usage = ev->usage;
  }
  EXPECT_TRUE(h->finished());
  return out;
}

Request generation(std::vector<int32_t> prompt, std::vector<EmbeddingRows> images = {}) {
  Request r;
  r.prompt = std::move(prompt);
  r.options = test::greedy(8, true);
  r.images = std::move(images);
  return r;
}

// The token embeddings of `ids` (the tiny model's table is F32): rows that must act exactly as
// those tokens do.
std::shared_ptr<const std::vector<float>> embeddings_of(std::span<const int32_t> ids) {
  const Weight& t = tiny().model->tok_embd;
  auto rows = std::make_shared<std::vector<float>>();
  for (int32_t id : ids) {
    const auto* r = reinterpret_cast<const float*>(t.row(id));
    rows->insert(rows->end(), r, r + t.cols);
  }
  return rows;
}

std::shared_ptr<const std::vector<float>> random_rows(int n, uint64_t seed) {
  auto rows = std::make_shared<std::vector<float>>(static_cast<size_t>(n) * 64);
  for (float& v : *rows) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    v = static_cast<float>(static_cast<double>(seed >> 11) * 0x1p-53 - 0.5) * 0.2f;
  }
  return rows;
}

std::vector<int32_t> prompt_of(int n) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 37 + 11) % 256);
  return t;
}

TEST(EngineImages, RowsTakeThePlaceOfTheirTokens) {
  const std::vector<int32_t> prompt = prompt_of(30);
  std::vector<int32_t> with_placeholders = prompt;
  for (int i = 5; i < 21; ++i) with_placeholders[static_cast<size_t>(i)] = 0;
  EmbeddingRows image{5, 16, 1234, embeddings_of(std::span(prompt).subspan(5, 16))};
  auto engine = make_engine();
  const Result plain = run(*engine, generation(prompt));
  const Result fed = run(*engine, generation(with_placeholders, {image}));
  EXPECT_EQ(fed.tokens, plain.tokens);
  EXPECT_EQ(fed.usage.prompt_tokens, 30);  // the image's 16 positions count
  const Result ignored = run(*engine, generation(with_placeholders));
  EXPECT_NE(ignored.tokens, plain.tokens) << "the placeholders alone gave the same text: the test shows nothing";
}

TEST(EngineImages, PrefixCacheKeysImagesByContent) {
  std::vector<int32_t> prompt = prompt_of(40);
  for (int i = 2; i < 34; ++i) prompt[static_cast<size_t>(i)] = 0;
  const EmbeddingRows cat{2, 32, 1, random_rows(32, 1)}, dog{2, 32, 2, random_rows(32, 2)};

  auto engine = make_engine();
  const Result first = run(*engine, generation(prompt, {cat}));
  EXPECT_EQ(first.usage.cached_tokens, 0);
  const Result again = run(*engine, generation(prompt, {cat}));
  EXPECT_EQ(again.usage.cached_tokens, 32);  // two full blocks; the last token's block is recomputed
  EXPECT_EQ(again.tokens, first.tokens);
  const Result other = run(*engine, generation(prompt, {dog}));
  EXPECT_EQ(other.usage.cached_tokens, 0);  // the image starts in block 0: nothing is shared

  auto fresh = make_engine();
  EXPECT_EQ(run(*fresh, generation(prompt, {dog})).tokens, other.tokens);
  EXPECT_NE(other.tokens, first.tokens);
}

TEST(EngineImages, BadImagesAreRefused) {
  auto engine = make_engine();
  auto expect_refused = [&](Request r, const std::string& words) {
    try {
      engine->submit(std::move(r));
      ADD_FAILURE() << "accepted a request that should fail with: " << words;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  const std::vector<int32_t> prompt = prompt_of(20);
  expect_refused(generation(prompt, {{15, 8, 1, random_rows(8, 1)}}), "do not lie inside the 20-token prompt");
  expect_refused(generation(prompt, {{2, 4, 1, random_rows(4, 1)}, {4, 4, 2, random_rows(4, 2)}}),
                 "image 2: its 4 rows at position 4");
  auto narrow = std::make_shared<std::vector<float>>(4 * 32);
  expect_refused(generation(prompt, {{2, 4, 1, narrow}}), "expected 4 rows of 64");
  Request embed = generation(prompt, {{2, 4, 1, random_rows(4, 1)}});
  embed.kind = RequestKind::Embed;
  EXPECT_THROW(engine->submit(std::move(embed)), Error);
}

}  // namespace
}  // namespace hayate
