// The service around the coder (cache, retries, fallback chain, observations), semantic files
// and batches, on the embedded demo model.
#include <gtest/gtest.h>

#include <chrono>

#include "compress/batch.h"
#include "compress/semantic.h"
#include "compress/service.h"
#include "core/error.h"
#include "support/compress_corpus.h"
#include "support/demo_compressor.h"

namespace hayate::compress {
namespace {

using test::DemoCompressor;

std::string stories(int n) {
  const char* animals[] = {"fox", "duck", "frog", "cat"};
  const char* names[] = {"Pip", "Tilly", "Mabel", "Lulu"};
  std::string s;
  for (int i = 0; i < n; ++i)
    s += std::string(i ? "\n\n" : "") + "Once upon a time, a little " + animals[i % 4] + " named " + names[i % 4] +
         " lived in a quiet forest. One day, " + names[i % 4] + " wanted to see the sea. But the path was long, and " +
         names[i % 4] +
         " felt sad. Then a kind owl came by and said, \"Let me help you.\" Together they kept going, "
         "and at last " +
         names[i % 4] + " did it. " + names[i % 4] + " went home singing.";
  return s;
}

TEST(CompressService, CacheHitsMissesLruAndTtl) {
  DemoCompressor d(false);
  ServiceConfig cfg;
  cfg.cache_entries = 2;
  CompressService svc(cfg, {{"cpu", d.compressor.get()}});
  CompressRequest a{"alpha text", false, {}}, b{"beta text", false, {}}, c{"gamma text", false, {}};
  EXPECT_FALSE(svc.compress(a).cached);
  const CompressReply again = svc.compress(a);
  EXPECT_TRUE(again.cached);
  EXPECT_EQ(again.step, "cache");
  EXPECT_EQ(svc.decompress(again.file).text, "alpha text");
  svc.compress(b);
  svc.compress(c);  // evicts a, the least recently used
  EXPECT_FALSE(svc.compress(a).cached);
  EXPECT_EQ(svc.cache_stats().entries, 2);

  cfg.cache_ttl_seconds = 0;  // everything expires at once
  CompressService expiring(cfg, {{"cpu", d.compressor.get()}});
  expiring.compress(a);
  EXPECT_FALSE(expiring.compress(a).cached);
}

TEST(CompressService, PreloadedTextsHitWithoutCountingThemselves) {
  DemoCompressor d(false);
  CompressService svc({}, {{"cpu", d.compressor.get()}});
  svc.preload({"common one", "common two"});
  EXPECT_EQ(svc.cache_stats().hits + svc.cache_stats().misses, 0);
  EXPECT_TRUE(svc.compress({"common two", false, {}}).cached);
  EXPECT_FALSE(svc.compress({"rare", false, {}}).cached);
  EXPECT_DOUBLE_EQ(svc.cache_stats().hit_rate(), 0.5);
}

TEST(CompressService, FallbackChainRetriesThenReportsTheStepUsed) {
  DemoCompressor d(false);
  ServiceConfig cfg;
  cfg.cache_entries = 0;
  cfg.retries = 2;
  cfg.backoff_ms = 5;
  cfg.fail_steps = {"gpu"};
  CompressService svc(cfg, {{"gpu", d.compressor.get()}, {"cpu", d.compressor.get()}});
  const auto t0 = std::chrono::steady_clock::now();
  const CompressReply r = svc.compress({test::prose(), false, {}});
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(15)) << "backoff 5 ms, then 10 ms";
  EXPECT_EQ(r.step, "cpu");
  ASSERT_EQ(r.failed.size(), 1u);
  EXPECT_NE(r.failed[0].find("gpu"), std::string::npos);
  EXPECT_EQ(svc.decompress(r.file).text, test::prose());

  cfg.fail_steps = {"gpu", "cpu"};
  CompressService last(cfg, {{"gpu", d.compressor.get()}, {"cpu", d.compressor.get()}});
  const CompressReply z = last.compress({test::prose(), false, {}});
  EXPECT_EQ(z.step, "zstd");
  EXPECT_EQ(z.failed.size(), 2u);
  EXPECT_EQ(read_container(z.file).method, Method::Zstd);
  EXPECT_EQ(last.decompress(z.file).text, test::prose());
}

TEST(CompressService, ObservationsCarryRatioTokensAndCost) {
  DemoCompressor d(false);
  ServiceConfig cfg;
  cfg.price_per_1k_tokens = 1.0;
  CompressService svc(cfg, {{"cpu", d.compressor.get()}});
  std::vector<Observation> seen;
  svc.set_observer([&](const Observation& o) { seen.push_back(o); });
  const std::string text = stories(3);
  const CompressReply r = svc.compress({text, false, {}});
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_GT(r.ratio, 5);
  EXPECT_DOUBLE_EQ(seen[0].ratio, r.ratio);
  EXPECT_GT(r.tokens_saved, r.original_tokens * 8 / 10);
  EXPECT_DOUBLE_EQ(r.cost_saving, static_cast<double>(r.tokens_saved) / 1000.0);
}

TEST(CompressService, ForeignAndDamagedFilesAreBadInput) {
  DemoCompressor d(false);
  CompressService svc({}, {{"cpu", d.compressor.get()}});
  const std::string junk = "definitely not compressed";
  try {
    svc.decompress(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(junk.data()), junk.size()));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
  }
}

TEST(CompressSemantic, StoriesShrinkTenfoldAndComeBackSimilar) {
  DemoCompressor d(true);
  const std::string text = stories(4);
  SemanticOptions o;
  o.lead_tokens = 12;
  const SemanticResult r = d.compressor->compress_semantic(text, o);
  EXPECT_FALSE(r.kept_whole);
  EXPECT_GE(static_cast<double>(text.size()) / static_cast<double>(r.file.size()), 10.0) << r.file.size();
  EXPECT_GE(r.quality.cosine, 0.85);
  EXPECT_GT(r.quality.word_f1, 0.5);
  const Container c = read_container(r.file);
  EXPECT_EQ(c.method, Method::Semantic);
  EXPECT_NEAR(c.semantic.quality / 10000.0, r.quality.cosine, 1e-4);
  EXPECT_EQ(d.compressor->decompress(r.file), r.reconstruction) << "greedy reconstruction is repeatable";
}

TEST(CompressSemantic, ShortTextsAreKeptWholeAndTargetRatioShortensLeads) {
  DemoCompressor d(true);
  const SemanticResult small = d.compressor->compress_semantic("Hi there.", {});
  EXPECT_TRUE(small.kept_whole);
  EXPECT_EQ(d.compressor->decompress(small.file), "Hi there.");
  // Long enough, but its lead is all of it: the summary's file would be larger than the exact one.
  SemanticOptions whole;
  whole.lead_tokens = 200;
  whole.min_length = 1;
  const std::string sentence = "Once upon a time, a little fox named Pip lived in a quiet forest by the sea.";
  const SemanticResult kept = d.compressor->compress_semantic(sentence, whole);
  EXPECT_TRUE(kept.kept_whole);
  EXPECT_EQ(read_container(kept.file).method, Method::Model);
  EXPECT_EQ(d.compressor->decompress(kept.file), sentence);
  SemanticOptions o;
  o.lead_tokens = 24;
  o.target_ratio = 30;
  const std::string text = stories(4);
  const SemanticResult r = d.compressor->compress_semantic(text, o);
  const SemanticResult loose = d.compressor->compress_semantic(text, {});
  EXPECT_LT(r.file.size(), loose.file.size());
  EXPECT_LT(r.summary_tokens, loose.summary_tokens);
}

TEST(CompressSemantic, WordF1CountsSharedWords) {
  EXPECT_DOUBLE_EQ(word_f1("a b c d", "a b c d"), 1.0);
  EXPECT_DOUBLE_EQ(word_f1("a b c d", "x y"), 0.0);
  EXPECT_NEAR(word_f1("the cat sat", "The cat ran"), 2.0 / 3.0, 1e-12);
}

TEST(CompressBatch, GroupsBySimilarityAndReportsItemErrorsWithoutFailingTheBatch) {
  const std::vector<std::vector<float>> e = {{1, 0}, {0, 1}, {0.99f, 0.1f}, {0.1f, 0.99f}, {1, 0.05f}};
  const auto groups = group_by_similarity(e, 0.8, 32);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<size_t>{0, 2, 4}));
  EXPECT_EQ(groups[1], (std::vector<size_t>{1, 3}));
  EXPECT_EQ(group_by_similarity(e, 0.8, 2).size(), 3u) << "a full group makes a new one";

  DemoCompressor d(true);
  std::vector<BatchItem> items = {{"a", stories(1)}, {"b", test::code()}, {"c", stories(2)}, {"d", test::json_text()}};
  std::vector<size_t> progress;
  const auto out = run_batch(*d.compressor, items, {}, [&](size_t done, size_t) { progress.push_back(done); });
  ASSERT_EQ(out.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_TRUE(out[i].ok) << out[i].error;
    EXPECT_EQ(d.compressor->decompress(out[i].file), items[i].text);
  }
  EXPECT_EQ(progress.back(), items.size());
  // A semantic batch where one item cannot be made: the others still are.
  BatchOptions o;
  o.semantic = true;
  o.semantic_options.lead_tokens = 12;
  o.max_item_bytes = 1000;
  items.push_back({"huge", stories(20)});
  const auto mixed = run_batch(*d.compressor, items, o);
  ASSERT_EQ(mixed.size(), items.size());
  for (size_t i = 0; i + 1 < items.size(); ++i) EXPECT_TRUE(mixed[i].ok) << mixed[i].name << ": " << mixed[i].error;
  EXPECT_FALSE(mixed.back().ok);
  EXPECT_NE(mixed.back().error.find("over the batch limit"), std::string::npos) << mixed.back().error;
}

}  // namespace
}  // namespace hayate::compress
