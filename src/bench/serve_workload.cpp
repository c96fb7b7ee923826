#include "bench/serve_workload.h"

#include <fstream>
#include <random>

#include "core/error.h"

namespace hayate::bench {
namespace {

constexpr const char* kChatPath = "/v1/chat/completions";
constexpr const char* kCompletionsPath = "/v1/completions";

const std::vector<std::string> kStoryTopics = {
    "a lighthouse keeper who finds a message in a bottle",
    "a city where it rains only at night",
    "two rival bakers in a mountain village",
    "a robot learning to paint",
    "the last train across a frozen lake",
    "a cartographer mapping an island that moves",
    "a musician who hears colours",
    "a garden that grows on the roof of a ship",
};

const std::vector<std::string> kChatQuestions = {
    "Hello! Can you help me plan a weekend trip?",
    "I like hiking and old towns. Where should I go?",
    "What should I pack for two days?",
    "How do I get there by train?",
    "Which local dishes should I try?",
    "Is it better to stay in a hotel or a guest house?",
    "What if it rains on Saturday?",
    "Can you suggest an evening activity?",
    "How much money should I budget?",
    "Summarise the plan in a few lines, please.",
};

// A long document for the summary workload: deterministic sentences built from a few word lists.
std::string make_document(int32_t words, uint64_t seed) {
  static const std::vector<std::string> subjects = {"The committee", "Our team",   "The new system", "The report",
                                                    "Each region",   "The survey", "The budget",     "The project"};
  static const std::vector<std::string> verbs = {"reviewed", "improved", "measured",   "described",
                                                 "delayed",  "expanded", "questioned", "supported"};
  static const std::vector<std::string> objects = {
      "the quarterly results", "the maintenance schedule", "customer feedback",  "the energy costs",
      "the hiring plan",       "the safety procedures",    "the delivery times", "the training"};
  std::mt19937_64 rng(seed);
  std::string out;
  int32_t n = 0;
  while (n < words) {
    out += subjects[rng() % subjects.size()] + " " + verbs[rng() % verbs.size()] + " " +
           objects[rng() % objects.size()] + " in week " + std::to_string(rng() % 52 + 1) + ". ";
    n += 8;
  }
  return out;
}

StreamRequest chat_request(const nlohmann::json& base, nlohmann::json messages) {
  nlohmann::json body = base;
  body["messages"] = std::move(messages);
  return {kChatPath, body.dump(), true};
}

StreamRequest completion_request(const nlohmann::json& base, const std::string& prompt) {
  nlohmann::json body = base;
  body["prompt"] = prompt;
  return {kCompletionsPath, body.dump(), false};
}

class StoryWorkload : public Workload {
 public:
  explicit StoryWorkload(nlohmann::json base) : base_(std::move(base)) {}
  StreamRequest next(int64_t) override {
    const std::string& topic = kStoryTopics[count_++ % kStoryTopics.size()];
    return chat_request(
        base_, nlohmann::json::array({{{"role", "user"}, {"content", "Write a long story about " + topic + "."}}}));
  }

 private:
  nlohmann::json base_;
  size_t count_ = 0;
};

// The seed's long generation: a story prompt that asks for a long answer, every answer
// max_tokens (2,000) long because the end-of-generation token is ignored.
class LongWorkload : public Workload {
 public:
  explicit LongWorkload(nlohmann::json base) : base_(std::move(base)) { base_["ignore_eos"] = true; }
  StreamRequest next(int64_t) override {
    const std::string& topic = kStoryTopics[count_++ % kStoryTopics.size()];
    return chat_request(
        base_,
        nlohmann::json::array({{{"role", "user"},
                                {"content", "Write a long story of about 1,500 words about " + topic +
                                                ", in several chapters, with dialogue and a surprising ending."}}}));
  }

 private:
  nlohmann::json base_;
  size_t count_ = 0;
};

class SummaryWorkload : public Workload {
 public:
  SummaryWorkload(nlohmann::json base, int32_t words, uint64_t seed) : base_(std::move(base)) {
    for (uint64_t i = 0; i < 4; ++i) documents_.push_back(make_document(words, seed + i));
  }
  StreamRequest next(int64_t) override {
    const std::string& doc = documents_[count_++ % documents_.size()];
    return chat_request(
        base_, nlohmann::json::array({{{"role", "system"}, {"content", "You summarise documents in three sentences."}},
                                      {{"role", "user"}, {"content", "Summarise this document:\n\n" + doc}}}));
  }

 private:
  nlohmann::json base_;
  std::vector<std::string> documents_;
  size_t count_ = 0;
};

// One conversation per stream; a failed turn starts the conversation again.
class ChatWorkload : public Workload {
 public:
  ChatWorkload(nlohmann::json base, int turns) : base_(std::move(base)), turns_(std::max(1, turns)) {}
  StreamRequest next(int64_t stream) override {
    Conversation& c = conversations_[stream];
    if (c.turn >= turns_) c = Conversation{};
    c.messages.push_back({{"role", "user"}, {"content", kChatQuestions[c.turn % kChatQuestions.size()]}});
    ++c.turn;
    return chat_request(base_, c.messages);
  }
  void completed(int64_t stream, const RequestResult& r) override {
    Conversation& c = conversations_[stream];
    if (r.outcome == Outcome::Ok)
      c.messages.push_back({{"role", "assistant"}, {"content", r.text}});
    else
      c = Conversation{};
  }

 private:
  struct Conversation {
    nlohmann::json messages = nlohmann::json::array();
    int turn = 0;
  };
  nlohmann::json base_;
  int turns_;
  std::map<int64_t, Conversation> conversations_;
};

// Multi-turn chat with a context-retention score (the seed's): turn 1 gives a made-up fact, the
// turns between are ordinary chat, the last turn asks for the fact back. A failed turn starts
// the conversation again and is not scored.
class RetentionWorkload : public Workload {
 public:
  RetentionWorkload(nlohmann::json base, int turns, uint64_t seed)
      : base_(std::move(base)), turns_(std::max(2, turns)), seed_(seed) {}
  void begin_run() override {
    conversations_.clear();
    score_ = {};
  }
  StreamRequest next(int64_t stream) override {
    Conversation& c = conversations_[stream];
    if (c.turn >= turns_) c = Conversation{};
    if (c.turn == 0) c.fact = retention_fact(seed_, started_++);
    std::string question;
    if (c.turn == 0)
      question = "Please remember this for later: my name is " + c.fact.name + " and my locker code is " + c.fact.code +
                 ". Just say hello for now.";
    else if (c.turn == turns_ - 1)
      question = "What is my locker code? Answer with the code only.";
    else
      question = kChatQuestions[c.turn % kChatQuestions.size()];
    c.messages.push_back({{"role", "user"}, {"content", question}});
    ++c.turn;
    return chat_request(base_, c.messages);
  }
  void completed(int64_t stream, const RequestResult& r) override {
    Conversation& c = conversations_[stream];
    if (r.outcome != Outcome::Ok) {
      c = Conversation{};
      return;
    }
    c.messages.push_back({{"role", "assistant"}, {"content", r.text}});
    if (c.turn == turns_) {
      ++score_.conversations;
      score_.retained += answer_retains(r.text, c.fact);
    }
  }
  std::optional<RetentionScore> retention() const override { return score_; }

 private:
  struct Conversation {
    nlohmann::json messages = nlohmann::json::array();
    int turn = 0;
    RetentionFact fact;
  };
  nlohmann::json base_;
  int turns_;
  uint64_t seed_;
  int64_t started_ = 0;
  std::map<int64_t, Conversation> conversations_;
  RetentionScore score_;
};

class FixedWorkload : public Workload {
 public:
  FixedWorkload(nlohmann::json base, std::string prompt) : request_(completion_request(base, prompt)) {}
  StreamRequest next(int64_t) override { return request_; }

 private:
  StreamRequest request_;
};

class JsonlWorkload : public Workload {
 public:
  JsonlWorkload(nlohmann::json base, std::vector<JsonlItem> items) : base_(std::move(base)), items_(std::move(items)) {}
  StreamRequest next(int64_t) override {
    const JsonlItem& item = items_[count_++ % items_.size()];
    nlohmann::json base = base_;
    if (item.max_tokens) base["max_tokens"] = *item.max_tokens;
    return item.prompt ? completion_request(base, *item.prompt) : chat_request(base, item.messages);
  }

 private:
  nlohmann::json base_;
  std::vector<JsonlItem> items_;
  size_t count_ = 0;
};

// The soak's mix (issue 22): what a public server sees over a day. Each stream draws its next
// request from a seeded generator, so a run (and a resumed one) repeats the same sequence:
// 60% a story (a streamed chat answer), 15% a long document to summarise, 15% a story whose
// client hangs up after 1-8 tokens, 10% an embeddings request.
class MixedWorkload : public Workload {
 public:
  MixedWorkload(nlohmann::json base, int32_t document_words, uint64_t seed)
      : story_(base), summary_(summary_base(base), document_words, seed), model_(base.value("model", "")), rng_(seed) {}
  StreamRequest next(int64_t stream) override {
    const uint64_t draw = rng_() % 100;
    if (draw < 60) return story_.next(stream);
    if (draw < 75) return summary_.next(stream);
    if (draw < 90) {
      StreamRequest r = story_.next(stream);
      r.cancel_after = static_cast<int64_t>(1 + rng_() % 8);
      return r;
    }
    nlohmann::json body = {{"input", nlohmann::json::array({kStoryTopics[rng_() % kStoryTopics.size()],
                                                            kChatQuestions[rng_() % kChatQuestions.size()]})}};
    if (!model_.empty()) body["model"] = model_;
    return {"/v1/embeddings", body.dump(), false, 0, false};
  }

 private:
  // Long prompts get short answers: the point is the prompt's KV blocks, not more decoding.
  static nlohmann::json summary_base(nlohmann::json base) {
    base["max_tokens"] = std::min<int64_t>(base.value("max_tokens", int64_t{32}), 32);
    return base;
  }
  StoryWorkload story_;
  SummaryWorkload summary_;
  std::string model_;
  std::mt19937_64 rng_;
};

}  // namespace

RetentionFact retention_fact(uint64_t seed, int64_t index) {
  static const std::vector<std::string> first = {"Aiko",  "Bertil", "Chiara", "Dagny",
                                                 "Emeka", "Fumio",  "Greta",  "Hamid"};
  static const std::vector<std::string> last = {"Okonkwo", "Lindqvist", "Moretti", "Tanabe", "Vasquez", "Holm"};
  std::mt19937_64 rng(seed * 1000003 + static_cast<uint64_t>(index));
  RetentionFact f;
  f.name = first[rng() % first.size()] + " " + last[rng() % last.size()];
  f.code = std::to_string(10000 + rng() % 90000);  // five digits, never a leading zero
  return f;
}

bool answer_retains(const std::string& answer, const RetentionFact& fact) {
  // "48 213" and "48,213" give the code back as well as "48213".
  std::string squeezed;
  for (char ch : answer)
    if (ch != ' ' && ch != ',' && ch != '-' && ch != '.') squeezed += ch;
  return squeezed.find(fact.code) != std::string::npos;
}

int32_t workload_default_max_tokens(const std::string& name) {
  if (name == "story") return 256;
  if (name == "long") return 2000;
  if (name == "retention") return 64;
  if (name == "summary") return 64;
  if (name == "rag") return 64;
  return 128;
}

nlohmann::json stream_body(const std::string& model, int32_t max_tokens, double temperature, bool ignore_eos) {
  nlohmann::json body = {{"stream", true},
                         {"stream_options", {{"include_usage", true}}},
                         {"max_tokens", max_tokens},
                         {"temperature", temperature}};
  if (!model.empty()) body["model"] = model;
  if (ignore_eos) body["ignore_eos"] = true;
  return body;
}

std::vector<JsonlItem> read_jsonl_workload(std::istream& in, const std::string& file_name) {
  std::vector<JsonlItem> items;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    const std::string where = file_name + ":" + std::to_string(line_no) + ": ";
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      fail(ErrorKind::BadInput, where + "not valid JSON (at byte " + std::to_string(e.byte) + ")");
    }
    if (!j.is_object()) fail(ErrorKind::BadInput, where + "expected a JSON object, got " + j.type_name());
    JsonlItem item;
    const bool has_prompt = j.contains("prompt"), has_messages = j.contains("messages");
    if (has_prompt == has_messages)
      fail(ErrorKind::BadInput, where + "needs exactly one of \"prompt\" (a string) or \"messages\" (an array)");
    if (has_prompt) {
      if (!j["prompt"].is_string()) fail(ErrorKind::BadInput, where + "field \"prompt\" must be a string");
      item.prompt = j["prompt"].get<std::string>();
    } else {
      const nlohmann::json& m = j["messages"];
      if (!m.is_array() || m.empty()) fail(ErrorKind::BadInput, where + "field \"messages\" must be a non-empty array");
      for (size_t i = 0; i < m.size(); ++i) {
        const std::string field = "messages[" + std::to_string(i) + "]";
        if (!m[i].is_object()) fail(ErrorKind::BadInput, where + "field \"" + field + "\" must be an object");
        if (!m[i].contains("role") || !m[i]["role"].is_string())
          fail(ErrorKind::BadInput, where + "field \"" + field + ".role\" must be a string");
        if (!m[i].contains("content") || !m[i]["content"].is_string())
          fail(ErrorKind::BadInput, where + "field \"" + field + ".content\" must be a string");
      }
      item.messages = m;
    }
    if (j.contains("max_tokens")) {
      const nlohmann::json& t = j["max_tokens"];
      if (!t.is_number_integer() || t.get<int64_t>() < 1 || t.get<int64_t>() > 1000000)
        fail(ErrorKind::BadInput, where + "field \"max_tokens\" must be a positive integer");
      item.max_tokens = t.get<int32_t>();
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) fail(ErrorKind::BadInput, file_name + ": no requests (the file has no JSON lines)");
  return items;
}

std::string synthetic_prompt_text(int32_t units, int32_t pad) {
  std::string out = "the";
  for (int32_t i = 1; i < units; ++i) out += " the";
  out.append(static_cast<size_t>(std::max(0, pad)), '.');
  return out;
}

std::unique_ptr<Workload> make_workload(const WorkloadConfig& c, const std::string& model,
                                        const std::string& fixed_prompt) {
  const int32_t max_tokens = c.max_tokens > 0 ? c.max_tokens : workload_default_max_tokens(c.name);
  nlohmann::json base = stream_body(model, max_tokens, c.temperature, c.ignore_eos);
  if (c.name == "story") return std::make_unique<StoryWorkload>(base);
  if (c.name == "summary")
    return std::make_unique<SummaryWorkload>(base, c.prompt_tokens > 0 ? c.prompt_tokens : 1000, c.seed);
  if (c.name == "long") return std::make_unique<LongWorkload>(base);
  if (c.name == "chat") return std::make_unique<ChatWorkload>(base, c.turns);
  if (c.name == "retention") return std::make_unique<RetentionWorkload>(base, c.turns, c.seed);
  if (c.name == "mixed")
    return std::make_unique<MixedWorkload>(base, c.prompt_tokens > 0 ? c.prompt_tokens : 200, c.seed);
  if (c.name == "fixed") return std::make_unique<FixedWorkload>(base, fixed_prompt);
  if (c.name == "rag") return make_rag_workload(base, c.seed);
  if (c.name == "jsonl") {
    if (c.file.empty()) fail(ErrorKind::BadInput, "--workload jsonl needs --file FILE.jsonl");
    std::ifstream f(c.file);
    if (!f) fail(ErrorKind::NotFound, c.file + ": cannot open the JSONL workload file");
    return std::make_unique<JsonlWorkload>(base, read_jsonl_workload(f, c.file));
  }
  fail(ErrorKind::BadInput,
       "unknown workload \"" + c.name + "\" (story, long, summary, chat, retention, mixed, fixed, jsonl or rag)");
}

}  // namespace hayate::bench
