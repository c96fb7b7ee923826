// The report's judgements: the model-selection flowchart and a pick per use case. Each rule is
// a threshold or an ordering over the matrix's figures, and the text that prints it is built
// next to the code that applies it, so the two cannot drift apart.
#include <algorithm>
#include <cctype>
#include <functional>

#include "report/matrix.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

constexpr double kReadingSpeed = 10;  // tokens/s one reader is comfortable with
constexpr double kChatTtftMs = 1000;  // a chat answer should start within a second
using Score = std::function<std::optional<double>(const Config&)>;

// Higher score first; rows without a score after those with one; then the faster one.
const Config* best_of(const std::vector<const Config*>& rows, const Score& score) {
  const Config* best = nullptr;
  auto better = [&](const Config* a, const Config* b) {
    const auto sa = score(*a), sb = score(*b);
    if (sa.has_value() != sb.has_value()) return sa.has_value();
    if (sa && *sa != *sb) return *sa > *sb;
    return a->speed().value_or(0) > b->speed().value_or(0);
  };
  for (const Config* c : rows)
    if (!best || better(c, best)) best = c;
  return best;
}

std::optional<double> quality(const Config& c) { return c.quality_mean(); }
std::optional<double> speed(const Config& c) { return c.speed(); }

// The mean of the suites whose name contains any of `parts`.
Score suites(std::vector<std::string> parts) {
  return [parts](const Config& c) -> std::optional<double> {
    double sum = 0;
    int n = 0;
    for (const auto& [suite, v] : c.quality) {
      std::string s = suite;
      for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (std::any_of(parts.begin(), parts.end(), [&](const std::string& p) { return s.find(p) != std::string::npos; }))
        sum += v, ++n;
    }
    return n ? std::optional<double>(sum / n) : std::nullopt;
  };
}

std::string pct(double v) { return short_number(v * 100) + "%"; }

// "quality 80% (2 suites), 12.3 tok/s for one user, 5.1 GiB RSS": the figures behind a pick.
std::string figures(const Config& c) {
  std::vector<std::string> parts;
  if (const auto q = c.quality_mean())
    parts.push_back("quality " + pct(*q) + " (" + std::to_string(c.quality.size()) +
                    (c.quality.size() == 1 ? " suite)" : " suites)"));
  if (c.tps_1) parts.push_back(short_number(*c.tps_1) + " tok/s for one user");
  if (c.per_user_at_10()) parts.push_back(short_number(*c.per_user_at_10()) + " tok/s each at 10 users");
  if (c.memory_bytes) parts.push_back(short_bytes(*c.memory_bytes) + " " + c.memory_basis);
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::vector<const Config*> where(const std::vector<Config>& rows, const std::function<bool(const Config&)>& keep) {
  std::vector<const Config*> out;
  for (const Config& c : rows)
    if (keep(c)) out.push_back(&c);
  return out;
}

FlowChart::Leaf leaf(const std::string& title, const Config* pick, const std::string& none) {
  if (!pick) return {title, "", none};
  return {title, pick->name(), figures(*pick)};
}

}  // namespace

FlowChart build_flowchart(const std::vector<Config>& rows) {
  FlowChart f;
  f.users_speed = kReadingSpeed;
  const std::string speed_each = short_number(kReadingSpeed) + " tok/s";
  f.q1 = "10 users at once, " + speed_each + " each?";
  const bool any_quality = std::any_of(rows.begin(), rows.end(), [](const Config& c) { return !c.quality.empty(); });
  const Score order = any_quality ? Score(quality) : Score(speed);
  const std::string by = any_quality ? "the highest mean quality (ties: the faster for one user)"
                                     : "the fastest for one user (no quality was measured)";
  f.many_users = leaf(
      "Serve many users",
      best_of(where(rows, [](const Config& c) { return c.per_user_at_10() && *c.per_user_at_10() >= kReadingSpeed; }),
              order),
      "no row reaches " + speed_each + " per user at concurrency 10: measure a faster set-up");
  f.rules.push_back("Q1 \"" + f.q1 + "\": yes when output tokens/s at concurrency 10 ÷ 10 ≥ " +
                    short_number(kReadingSpeed) + " (a comfortable reading speed); of those rows, " + by + ".");
  std::vector<double> memories;
  for (const Config& c : rows)
    if (c.memory_bytes) memories.push_back(*c.memory_bytes);
  std::sort(memories.begin(), memories.end());
  if (!memories.empty()) f.budget = memories[(memories.size() - 1) / 2];
  f.q2 = f.budget ? "Memory ≤ " + short_bytes(*f.budget) + "?" : "Memory tight?";
  const auto fits =
      where(rows, [&](const Config& c) { return f.budget && c.memory_bytes && *c.memory_bytes <= *f.budget; });
  f.tight = leaf("Small memory", best_of(fits, order), "no row has a memory measurement");
  f.roomy = leaf("Best overall", best_of(where(rows, [](const Config&) { return true; }), order), "no rows");
  f.rules.push_back("Q2 \"" + f.q2 + "\": the threshold is the median peak memory of the rows (GPU memory where " +
                    "sampled, else the server's RSS); yes → of the rows within it, " + by + "; no → of all rows, " +
                    by + ".");
  return f;
}

std::vector<UseCase> recommend_use_cases(const std::vector<Config>& rows) {
  std::vector<UseCase> out;
  auto put = [&](const std::string& use, const Config* c, const std::string& rule) {
    if (c) out.push_back({use, c->name(), rule + " → " + figures(*c)});
  };
  const std::vector<const Config*> all = where(rows, [](const Config&) { return true; });
  const bool any_quality = std::any_of(rows.begin(), rows.end(), [](const Config& c) { return !c.quality.empty(); });

  // Chat: fast enough to read and quick to start, then the best chat quality (JGLUE suites when
  // measured).
  const auto responsive = where(rows, [](const Config& c) {
    return c.tps_1 && *c.tps_1 >= kReadingSpeed && (!c.ttft_p90_1 || *c.ttft_p90_1 <= kChatTtftMs);
  });
  const Score jglue = suites({"jglue", "jcommonsenseqa", "jnli", "marc"});
  const Score chat_q = [&](const Config& c) { return jglue(c) ? jglue(c) : c.quality_mean(); };
  const std::string chat_rule =
      "≥ " + short_number(kReadingSpeed) + " tok/s for one user and TTFT p90 ≤ " + short_number(kChatTtftMs) +
      " ms; then " + (any_quality ? "the highest JGLUE (else mean) quality" : "the fastest (no quality measured)");
  if (!responsive.empty())
    put("chat", best_of(responsive, any_quality ? chat_q : Score(speed)), chat_rule);
  else
    put("chat", best_of(all, speed), "no row meets " + chat_rule + "; the fastest for one user instead");

  // Code: HumanEval when measured, else the mean quality, else speed.
  const Score humaneval = suites({"humaneval"});
  if (!where(rows, [&](const Config& c) { return humaneval(c).has_value(); }).empty())
    put("code", best_of(all, humaneval), "the highest HumanEval pass@1 (ties: the faster for one user)");
  else
    put("code", best_of(all, any_quality ? Score(quality) : Score(speed)),
        any_quality ? "no HumanEval run: the highest mean quality" : "no quality run: the fastest for one user");

  // RAG: long prompts, so the time to the first token of a long-document request decides, among
  // rows whose quality is at least the median (when quality was measured).
  std::vector<double> qs;
  for (const Config& c : rows)
    if (c.quality_mean()) qs.push_back(*c.quality_mean());
  std::sort(qs.begin(), qs.end());
  const std::optional<double> q_median = qs.size() >= 2 ? std::optional<double>(qs[(qs.size() - 1) / 2]) : std::nullopt;
  const bool long_prompts =
      std::any_of(rows.begin(), rows.end(), [](const Config& c) { return c.ttft_p90_long_prompt; });
  const auto ttft = [&](const Config& c) { return long_prompts ? c.ttft_p90_long_prompt : c.ttft_p90_1; };
  const auto rag_rows = where(rows, [&](const Config& c) {
    return ttft(c) && (!q_median || (c.quality_mean() && *c.quality_mean() >= *q_median));
  });
  const Config* rag = best_of(rag_rows, [&](const Config& c) { return std::optional<double>(-*ttft(c)); });
  if (rag)
    put("RAG", rag,
        std::string("the lowest TTFT p90 ") +
            (long_prompts ? "of the summary (long document) workload" : "for one user (no long-prompt run)") +
            (q_median ? " among rows with quality ≥ the median " + pct(*q_median) : "") + ": " +
            short_number(*ttft(*rag)) + " ms");

  // Batch: total throughput at any load, error-free.
  const Config* batch = best_of(where(rows, [](const Config& c) { return c.best_tps.has_value(); }),
                                [](const Config& c) { return c.best_tps; });
  if (batch) {
    std::string rule =
        "the highest error-free output tokens/s of any run: " + short_number(*batch->best_tps) + " tok/s";
    if (const auto g = batch->tokens_per_s_per_gb()) rule += ", " + short_number(*g) + " tok/s per GB";
    if (batch->energy_per_token_j) rule += ", " + short_number(*batch->energy_per_token_j) + " J per token";
    put("batch", batch, rule);
  }
  return out;
}

}  // namespace hayate::report
