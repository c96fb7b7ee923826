// The rag workload of `hayate bench serve` (issue 15; the RAG seed's own benchmark is 100 questions
// at concurrency 4): a corpus of made-up towns, each a short document with facts planted among
// filler sentences under headings, and questions whose answers are those facts, asked as RAG chat
// (a `rag` object naming the collection). The server answers each with its stage timings.
#include <random>

#include "bench/serve_workload.h"

namespace hayate::bench {
namespace {

constexpr int kTowns = 48;

const std::vector<std::string> kSyllables = {"vel", "tra", "mon", "osk", "har", "quel", "brin", "dor",
                                             "zan", "lur", "pet", "gri", "sol", "fen",  "kar",  "ith"};
const std::vector<std::string> kGoods = {"blue salt",  "amber glass", "river pearls", "copper wire",
                                         "dried figs", "whale oil",   "cedar boards", "silk rope"};
const std::vector<std::string> kMonths = {"Harrow", "Emberfall", "Thaw", "Greenmoot", "Lastlight", "Frostwane"};
const std::vector<std::string> kFiller = {
    "The streets are narrow and paved with grey stone.",   "Markets open at dawn and close before noon.",
    "Most families keep a small garden behind the house.", "Travellers often arrive by the coastal road.",
    "The old bridge was rebuilt after a storm long ago.",  "Children learn to swim in the shallow bay."};

std::string town_name(uint64_t seed, int i) {
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(i));
  std::string name = kSyllables[rng() % kSyllables.size()] + kSyllables[rng() % kSyllables.size()];
  name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name + std::to_string(i);  // unique even when the syllables repeat
}

struct Town {
  std::string name, good, month;
  int bridges;
};

Town town(uint64_t seed, int i) {
  std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(i));
  return {town_name(seed, i), kGoods[rng() % kGoods.size()], kMonths[rng() % kMonths.size()],
          static_cast<int>(rng() % 40 + 3)};
}

class RagWorkload : public Workload {
 public:
  RagWorkload(nlohmann::json base, uint64_t seed) : base_(std::move(base)), seed_(seed) {
    base_["rag"] = {{"collection", kRagCollection}, {"top_k", 3}};
  }
  StreamRequest next(int64_t) override {
    const int i = static_cast<int>(count_ % kTowns);
    const Town t = town(seed_, i);
    std::string question;
    switch ((count_++ / kTowns) % 3) {
      case 0:
        question = "What does " + t.name + " export?";
        break;
      case 1:
        question = "In which month does the river of " + t.name + " flood?";
        break;
      default:
        question = "How many bridges cross the canals of " + t.name + "?";
    }
    nlohmann::json body = base_;
    body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", question}}});
    return {"/v1/chat/completions", body.dump()};
  }

 private:
  nlohmann::json base_;
  const uint64_t seed_;
  int64_t count_ = 0;
};

}  // namespace

nlohmann::json rag_corpus(uint64_t seed) {
  nlohmann::json docs = nlohmann::json::array();
  for (int i = 0; i < kTowns; ++i) {
    const Town t = town(seed, i);
    std::mt19937_64 rng(seed + static_cast<uint64_t>(i));
    auto filler = [&] { return kFiller[rng() % kFiller.size()] + " " + kFiller[rng() % kFiller.size()]; };
    std::string text = "# " + t.name + "\n\n" + t.name + " is a harbour town. " + filler() + "\n\n## Trade\n\n" +
                       t.name + " exports " + t.good + " to the islands every spring. " + filler() +
                       "\n\n## River\n\nThe river of " + t.name + " floods in the month of " + t.month + ". " +
                       filler() + "\n\n## Canals\n\n" + std::to_string(t.bridges) + " bridges cross the canals of " +
                       t.name + ". " + filler() + "\n";
    docs.push_back({{"id", "town-" + std::to_string(i)}, {"text", std::move(text)}});
  }
  return docs;
}

std::string rag_collection_body() { return nlohmann::json({{"name", kRagCollection}}).dump(); }

std::unique_ptr<Workload> make_rag_workload(const nlohmann::json& base, uint64_t seed) {
  return std::make_unique<RagWorkload>(base, seed);
}

}  // namespace hayate::bench
