// "Which configuration for which job": each rule picks the best row by one measured figure and
// says which; nothing is weighted or guessed, so a reader can redo the pick from the tables.
#include <functional>
#include <map>

#include "report/report.h"
#include "report/svg.h"

namespace hayate::report {
namespace {

struct Candidate {
  std::string choice, source;
  double value = 0;
  std::string shown;
};

// Keeps the candidate with the smallest (or largest) value.
class Best {
 public:
  explicit Best(bool lowest) : lowest_(lowest) {}
  void offer(Candidate c) {
    if (!best_ || (lowest_ ? c.value < best_->value : c.value > best_->value)) best_ = std::move(c);
  }
  const std::optional<Candidate>& get() const { return best_; }

 private:
  bool lowest_;
  std::optional<Candidate> best_;
};

std::string with_unit(double v, const char* unit) { return short_number(v) + " " + unit; }

}  // namespace

std::vector<Recommendation> recommend(const std::vector<ResultFile>& files) {
  const bool many = files.size() > 1;
  Best chat_ttft(true), batch_serve(false), small_serve(true), most_users(false);
  Best chat_tg(false), batch_pp(false), small_model(true), per_gib(false);
  for (const ResultFile& f : files) {
    for (const ServeTarget& t : f.targets) {
      const std::string name = target_name(f, t, many);
      // The lowest concurrency this target was measured at stands for one user chatting.
      const ServeRun* lowest = nullptr;
      for (const ServeRun& r : t.runs) {
        if (r.mode != "concurrency" || !r.concurrency) continue;
        if (r.ttft.p90 && (!lowest || *r.concurrency < *lowest->concurrency)) lowest = &r;
        if (r.errors == 0 && r.output_tokens_per_s)
          batch_serve.offer({name + " at concurrency " + short_number(*r.concurrency), f.name, *r.output_tokens_per_s,
                             with_unit(*r.output_tokens_per_s, "output tokens/s")});
        if (r.peak_rss_bytes)
          small_serve.offer({name, f.name, static_cast<double>(*r.peak_rss_bytes), short_bytes(*r.peak_rss_bytes)});
      }
      if (!lowest) continue;
      chat_ttft.offer({name + " at concurrency " + short_number(*lowest->concurrency), f.name, *lowest->ttft.p90,
                       with_unit(*lowest->ttft.p90, "ms TTFT p90")});
      // How far a target scales before its users notice: the highest error-free concurrency whose
      // TTFT p90 is at most twice the one at its lowest concurrency.
      for (const ServeRun& r : t.runs)
        if (r.mode == "concurrency" && r.concurrency && r.errors == 0 && r.ttft.p90 &&
            *r.ttft.p90 <= 2 * *lowest->ttft.p90)
          most_users.offer(
              {name, f.name, *r.concurrency,
               short_number(*r.concurrency) + " concurrent requests (TTFT p90 " + short_number(*r.ttft.p90) + " ms)"});
    }
    std::map<std::string, uint64_t> peak;  // per configuration, over its tests
    for (const ModelRow& r : f.rows) peak[r.config()] = std::max(peak[r.config()], r.rss_peak_bytes);
    for (const ModelRow& r : f.rows) {
      const std::string name = (many ? f.name + ": " : "") + r.config();
      if (r.is_prompt())
        batch_pp.offer({name + " (" + r.test + ")", f.name, r.avg_ts, with_unit(r.avg_ts, "tokens/s")});
      else
        chat_tg.offer({name + " (" + r.test + ")", f.name, r.avg_ts, with_unit(r.avg_ts, "tokens/s")});
      const uint64_t bytes = peak[r.config()];
      if (bytes == 0) continue;
      small_model.offer({name, f.name, static_cast<double>(bytes), short_bytes(bytes)});
      if (!r.is_prompt()) {
        const double gib = static_cast<double>(bytes) / (1024.0 * 1024 * 1024);
        per_gib.offer(
            {name + " (" + r.test + ")", f.name, r.avg_ts / gib, with_unit(r.avg_ts / gib, "tokens/s per GiB")});
      }
    }
  }
  std::vector<Recommendation> out;
  auto put = [&](const std::string& job, const std::string& rule, const Best& b) {
    if (const auto& c = b.get()) out.push_back({job, rule, c->choice, c->shown, c->source});
  };
  put("Interactive chat (server)", "lowest TTFT p90 at the lowest concurrency measured", chat_ttft);
  put("Batch jobs (server)", "highest output tokens/s of any error-free concurrency run", batch_serve);
  put("Many concurrent users (server)",
      "highest error-free concurrency with TTFT p90 at most 2x that at the target's lowest concurrency", most_users);
  put("Smallest memory (server)", "lowest peak resident memory of the server process", small_serve);
  put("Interactive chat (in-process)", "highest generation (tg) tokens/s", chat_tg);
  put("Batch jobs with long prompts (in-process)", "highest prompt processing (pp) tokens/s", batch_pp);
  put("Smallest memory (in-process)", "lowest peak resident memory over a configuration's tests", small_model);
  put("Best tokens/s per GiB (in-process)", "generation tokens/s divided by peak resident GiB", per_gib);
  return out;
}

}  // namespace hayate::report
