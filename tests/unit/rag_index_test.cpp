// The index specs: the factory strings taken and the ones refused with a reason, IVF flat until
// it has enough vectors and then trained (its lists kept across small changes and through its
// file), and recall@5 against brute force on a planted-fact corpus for Flat, IVF at nprobe 16,
// HNSW and IVF-PQ. Also: a database from before the search parameters opens and keeps its data.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "core/error.h"
#include "rag/collections.h"
#include "rag/index.h"
#include "support/test_util.h"

namespace hayate::rag {
namespace {

constexpr int32_t kDim = 64;

CollectionInfo info(const std::string& index, Metric m = Metric::Cosine, int32_t nprobe = 0, int32_t ef = 0) {
  CollectionInfo i;
  i.name = "c";
  i.index = index;
  i.metric = m;
  i.dim = kDim;
  i.nprobe = nprobe;
  i.ef_search = ef;
  i.created = 1;
  return i;
}

std::string refusal(const CollectionInfo& i) {
  try {
    VectorIndex index(i);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << i.index;
    return e.what();
  }
  return "accepted";
}

TEST(IndexSpec, FactoryStringsTakenAndBadOnesRefusedWithAReason) {
  for (const char* ok : {"Flat", "IVF64,Flat", "IVF16,PQ8", "IVF16,PQ16x4", "HNSW32", "HNSW16,Flat"})
    for (Metric m : {Metric::Cosine, Metric::InnerProduct, Metric::L2})
      EXPECT_EQ(refusal(info(ok, m)), "accepted") << ok;
  EXPECT_EQ(parse_index_spec(info("IVF64,Flat")).train_min, 64 * 39);
  EXPECT_EQ(parse_index_spec(info("IVF16,PQ8")).train_min, 256 * 39);  // PQ's 256 codes need more than 16 lists
  EXPECT_EQ(parse_index_spec(info("IVF16,PQ8x4")).pq_bits, 4);
  EXPECT_NE(refusal(info("LSH")).find("is not one of"), std::string::npos);
  EXPECT_NE(refusal(info("IVF0,Flat")).find("1..65536"), std::string::npos);
  EXPECT_NE(refusal(info("IVFx,Flat")).find("is not one of"), std::string::npos);
  EXPECT_NE(refusal(info("IVF16,PQ7")).find("must divide the dimension 64"), std::string::npos);
  EXPECT_NE(refusal(info("IVF16,PQ8x17")).find("bits"), std::string::npos);
  EXPECT_NE(refusal(info("Flat", Metric::Cosine, 16)).find("nprobe applies to IVF"), std::string::npos);
  EXPECT_NE(refusal(info("IVF64,Flat", Metric::Cosine, 65)).find("nprobe must be 1..64"), std::string::npos);
  EXPECT_NE(refusal(info("IVF64,Flat", Metric::Cosine, 0, 32)).find("ef_search applies to HNSW"), std::string::npos);
  EXPECT_EQ(refusal(info("HNSW32", Metric::Cosine, 0, 32)), "accepted");
}

// Facts planted around topic centres: near neighbours exist, as in a real corpus (uniform random
// vectors have none, and no approximate index finds their "nearest").
struct Corpus {
  std::vector<int64_t> ids;
  std::vector<float> data;
  std::vector<std::vector<float>> queries;
};

Corpus planted(int n, int queries, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<std::vector<float>> topics(40, std::vector<float>(kDim));
  for (auto& t : topics)
    for (float& x : t) x = g(rng);
  Corpus c;
  for (int i = 0; i < n; ++i) {
    const auto& t = topics[static_cast<size_t>(i) % topics.size()];
    c.ids.push_back(1000 + i);
    for (int j = 0; j < kDim; ++j) c.data.push_back(t[static_cast<size_t>(j)] + 0.6f * g(rng));
  }
  for (int q = 0; q < queries; ++q) {  // a question about one planted fact: the fact plus noise
    const size_t fact = static_cast<size_t>(q * 37 % n);
    std::vector<float> v(c.data.begin() + static_cast<ptrdiff_t>(fact * kDim),
                         c.data.begin() + static_cast<ptrdiff_t>((fact + 1) * kDim));
    for (float& x : v) x += 0.3f * g(rng);
    c.queries.push_back(v);
  }
  return c;
}

std::vector<int64_t> brute_force(const Corpus& c, std::vector<float> q, Metric m, int k) {
  if (m == Metric::Cosine) normalize(q);
  std::vector<std::pair<double, int64_t>> scored;
  for (size_t i = 0; i < c.ids.size(); ++i) {
    std::vector<float> v(c.data.begin() + static_cast<ptrdiff_t>(i * kDim),
                         c.data.begin() + static_cast<ptrdiff_t>((i + 1) * kDim));
    if (m == Metric::Cosine) normalize(v);
    double s = 0;
    for (int j = 0; j < kDim; ++j)
      s += m == Metric::L2 ? -(q[j] - v[j]) * (q[j] - v[j]) : static_cast<double>(q[j]) * v[j];
    scored.push_back({s, c.ids[i]});
  }
  std::partial_sort(scored.begin(), scored.begin() + k, scored.end(), std::greater<>());
  std::vector<int64_t> out;
  for (int i = 0; i < k; ++i) out.push_back(scored[static_cast<size_t>(i)].second);
  return out;
}

double recall_at_5(const CollectionInfo& i, const Corpus& c) {
  VectorIndex index(i);
  index.rebuild(c.ids, c.data, 1);
  int found = 0, wanted = 0;
  for (const auto& q : c.queries) {
    const auto truth = brute_force(c, q, i.metric, 5);
    const std::set<int64_t> want(truth.begin(), truth.end());
    for (const Hit& h : index.search(q, 5)) found += static_cast<int>(want.count(h.id));
    wanted += 5;
  }
  return static_cast<double>(found) / wanted;
}

TEST(IndexRecall, PlantedFactsAgainstBruteForce) {
  const Corpus c = planted(64 * 39 + 100, 60, 11);  // enough for IVF64 to be trained
  for (Metric m : {Metric::Cosine, Metric::InnerProduct, Metric::L2}) {
    EXPECT_GE(recall_at_5(info("Flat", m), c), 0.95) << metric_name(m);
    EXPECT_GE(recall_at_5(info("IVF64,Flat", m, 16), c), 0.90) << metric_name(m);
    EXPECT_GE(recall_at_5(info("HNSW32", m, 0, 64), c), 0.90) << metric_name(m);
  }
  // PQ trades recall for memory: compressed codes rank near neighbours only roughly.
  const Corpus big = planted(16 * 39 + 100, 50, 12);
  EXPECT_GE(recall_at_5(info("IVF16,PQ16x4", Metric::L2, 8), big), 0.5);
}

TEST(IndexTraining, FlatUntilEnoughVectorsThenTrainedListsAreKeptAndSaved) {
  const CollectionInfo i = info("IVF16,Flat", Metric::Cosine, 4);
  const Corpus c = planted(16 * 39 * 10, 20, 5);
  auto first = [&](int64_t n) {
    return std::make_pair(std::vector<int64_t>(c.ids.begin(), c.ids.begin() + n),
                          std::vector<float>(c.data.begin(), c.data.begin() + n * kDim));
  };
  VectorIndex index(i);
  auto [ids, data] = first(16 * 39 - 1);
  index.rebuild(ids, data, 1);
  EXPECT_EQ(index.trained_on(), 0);  // too few to train on: flat
  EXPECT_EQ(index.search(c.queries[0], 1).size(), 1u);
  std::tie(ids, data) = first(16 * 39);
  index.rebuild(ids, data, 2);
  EXPECT_EQ(index.trained_on(), 16 * 39);
  std::tie(ids, data) = first(16 * 39 * 2);
  index.rebuild(ids, data, 3);
  EXPECT_EQ(index.trained_on(), 16 * 39);  // the lists are kept
  EXPECT_EQ(index.size(), 16 * 39 * 2);
  VectorIndex read(i);
  read.deserialize(index.serialize(), 1);
  EXPECT_EQ(read.trained_on(), 16 * 39);
  EXPECT_EQ(read.version(), 3);
  for (const auto& q : c.queries) {  // the same lists and nprobe: the same answers
    const auto a = index.search(q, 5), b = read.search(q, 5);
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k].id, b[k].id);
  }
  std::tie(ids, data) = first(16 * 39 * 10);
  index.rebuild(ids, data, 4);
  EXPECT_EQ(index.trained_on(), 16 * 39 * 10);  // grown past eightfold: trained again
}

TEST(IndexStore, ADatabaseFromBeforeTheSearchParametersOpens) {
  const std::string dir = test::temp_path("old-db." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/collections.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE collections(name TEXT PRIMARY KEY, metric TEXT NOT NULL, index_spec TEXT NOT "
                         "NULL, dim INTEGER NOT NULL, model TEXT NOT NULL, created INTEGER NOT NULL, version INTEGER "
                         "NOT NULL DEFAULT 0); INSERT INTO collections VALUES ('old', 'l2', 'Flat', 64, 'm', 5, 0);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Collections c(dir);
  const CollectionInfo old = c.require("old");
  EXPECT_EQ(old.metric, Metric::L2);
  EXPECT_EQ(old.nprobe, 0);
  CollectionInfo ivf = info("IVF8,Flat", Metric::Cosine, 3);
  ivf.name = "new";
  c.store().create_collection(ivf);
  EXPECT_EQ(c.require("new").nprobe, 3);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hayate::rag
