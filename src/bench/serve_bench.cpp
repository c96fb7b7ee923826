// The runs of `hayate bench serve` on one io_context thread: workers (concurrency mode) or
// Poisson arrivals (rate mode) issue streamed requests; beside them small coroutines sample
// resources, print progress and take soak snapshots. SIGINT cancels the open requests and ends.
#include "bench/serve_bench.h"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <cmath>
#include <exception>
#include <set>

#include "bench/poisson.h"
#include "bench/prometheus_text.h"
#include "core/clock.h"
#include "core/error.h"

namespace hayate::bench {
namespace {

using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// A countdown a coroutine can wait for: the other coroutines call done() as they finish.
class Latch {
 public:
  explicit Latch(asio::any_io_executor ex) : timer_(ex) {}
  void add() { ++count_; }
  void done() {
    if (--count_ <= 0) timer_.cancel();
  }
  awaitable<void> wait() {
    while (count_ > 0) {
      timer_.expires_at(Clock::time_point::max());
      error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::steady_timer timer_;
  int64_t count_ = 0;
};

// A timer that sleeps until cancel() or a deadline.
awaitable<void> sleep_until(asio::steady_timer& t, Clock::time_point when) {
  t.expires_at(when);
  error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

struct Target {
  Endpoint ep;
  std::unique_ptr<Workload> workload;
  std::string route;  // the workload's path, as hayate's metrics label it
  bool hayate = false;
};

struct RunPlan {
  std::string mode;
  std::optional<int> concurrency;
  std::optional<double> rate;
  int64_t max_requests = 0;   // 0: no limit
  double max_duration_s = 0;  // 0: no limit
  double snapshot_every_s = 0;
};

struct Session {
  Session(asio::io_context& io, const ServeBenchConfig& c, std::ostream& l) : ioc(io), cfg(c), log(l) {}
  asio::io_context& ioc;
  const ServeBenchConfig& cfg;
  std::ostream& log;
  bool interrupted = false;
  std::set<Connection*> in_flight;
  std::set<asio::steady_timer*> wake_on_interrupt;
  std::unique_ptr<Nvml> nvml;
  bool tty = false;
  std::exception_ptr failure;

  void interrupt() {
    if (interrupted) return;
    interrupted = true;
    for (Connection* c : in_flight) c->cancel();
    for (asio::steady_timer* t : wake_on_interrupt) t->cancel();
  }
  Clock::duration timeout() const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cfg.timeout_s));
  }
  // co_spawn that counts the coroutine in `latch` and keeps its exception for the caller.
  void spawn(awaitable<void> a, Latch& latch) {
    latch.add();
    asio::co_spawn(ioc, std::move(a), [this, &latch](std::exception_ptr e) {
      if (e && !failure) failure = e;
      latch.done();
    });
  }
};

struct RunState {
  explicit RunState(asio::any_io_executor ex) : tick(ex), slot_free(ex) {}
  Clock::time_point epoch = Clock::now();
  std::vector<RequestResult> done;
  int64_t issued = 0;
  int64_t in_flight = 0;
  bool finished = false;
  asio::steady_timer tick;       // wakes the helper coroutines when the run ends
  asio::steady_timer slot_free;  // rate mode: a request ended
};

bool may_issue(const Session& s, const RunPlan& p, const RunState& st) {
  if (s.interrupted) return false;
  if (p.max_requests > 0 && st.issued >= p.max_requests) return false;
  if (p.max_duration_s > 0 && seconds_since(st.epoch) >= p.max_duration_s) return false;
  return true;
}

awaitable<void> issue(Session& s, Target& t, RunState& st, Connection& conn, int64_t stream) {
  ++st.issued;
  ++st.in_flight;
  const StreamRequest req = t.workload->next(stream);
  s.in_flight.insert(&conn);
  RequestResult r = co_await stream_once(conn, t.ep, req, st.epoch, s.timeout());
  s.in_flight.erase(&conn);
  t.workload->completed(stream, r);
  st.done.push_back(std::move(r));
  --st.in_flight;
  st.slot_free.cancel();
}

awaitable<void> worker(Session& s, Target& t, RunState& st, const RunPlan& p, int slot) {
  Connection conn(co_await asio::this_coro::executor, t.ep.at);
  while (may_issue(s, p, st)) co_await issue(s, t, st, conn, slot);
  conn.close();
}

awaitable<void> pooled_request(Session& s, Target& t, RunState& st, std::vector<std::unique_ptr<Connection>>& pool,
                               int64_t stream) {
  std::unique_ptr<Connection> conn;
  if (!pool.empty()) {
    conn = std::move(pool.back());
    pool.pop_back();
  } else {
    conn = std::make_unique<Connection>(co_await asio::this_coro::executor, t.ep.at);
  }
  co_await issue(s, t, st, *conn, stream);
  pool.push_back(std::move(conn));
}

// Poisson arrivals; a request that would exceed max_concurrency in flight waits for a free slot.
awaitable<void> arrivals(Session& s, Target& t, RunState& st, const RunPlan& p, Latch& requests,
                         std::vector<std::unique_ptr<Connection>>& pool) {
  PoissonArrivals schedule(*p.rate, s.cfg.seed);
  asio::steady_timer wake(co_await asio::this_coro::executor);
  s.wake_on_interrupt.insert(&wake);
  s.wake_on_interrupt.insert(&st.slot_free);
  while (may_issue(s, p, st)) {
    const double at = schedule.next();
    co_await sleep_until(wake,
                         st.epoch + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at)));
    while (!s.interrupted && st.in_flight >= s.cfg.max_concurrency)
      co_await sleep_until(st.slot_free, Clock::time_point::max());
    if (!may_issue(s, p, st)) break;
    s.spawn(pooled_request(s, t, st, pool, st.issued), requests);
  }
  s.wake_on_interrupt.erase(&wake);
  s.wake_on_interrupt.erase(&st.slot_free);
}

awaitable<void> sample_resources(Session& s, RunState& st, RunResult& out) {
  std::optional<ProcessProbe> probe;
  if (s.cfg.pid > 0) probe.emplace(static_cast<pid_t>(s.cfg.pid));
  if (!probe && !s.nvml) co_return;
  const auto every =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.cfg.sample_interval_s));
  for (Clock::time_point next = st.epoch; !st.finished; next += every) {
    ResourceSample r;
    r.t_s = seconds_since(st.epoch);
    if (probe) probe->sample(r);
    if (s.nvml) s.nvml->sample(r);
    out.resources.push_back(r);
    co_await sleep_until(st.tick, next + every);
  }
}

void print_progress(Session& s, const RunPlan& p, const RunState& st, bool last) {
  const double elapsed = seconds_since(st.epoch);
  double fraction = 0;
  if (p.max_requests > 0) fraction = static_cast<double>(st.done.size()) / static_cast<double>(p.max_requests);
  if (p.max_duration_s > 0) fraction = std::max(fraction, elapsed / p.max_duration_s);
  fraction = std::clamp(fraction, 0.0, 1.0);
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth);
  int64_t tokens = 0, errors = 0;
  for (const RequestResult& r : st.done) {
    tokens += r.completion_tokens;
    errors += r.outcome != Outcome::Ok && r.outcome != Outcome::Cancelled;
  }
  char line[200];
  std::snprintf(line, sizeof line, "\r[%s%s] %s %5zu done %4lld open %8.1f tok/s %lld errors %6.1f s\x1b[K",
                std::string(static_cast<size_t>(filled), '#').c_str(),
                std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(),
                p.concurrency ? ("c=" + std::to_string(*p.concurrency)).c_str() : "rate", st.done.size(),
                static_cast<long long>(st.in_flight), elapsed > 0 ? static_cast<double>(tokens) / elapsed : 0.0,
                static_cast<long long>(errors), elapsed);
  s.log << line << (last ? "\r\x1b[K" : "") << std::flush;
}

awaitable<void> progress(Session& s, RunState& st, const RunPlan& p) {
  if (!s.tty) co_return;
  while (!st.finished) {
    print_progress(s, p, st, false);
    co_await sleep_until(st.tick, Clock::now() + std::chrono::milliseconds(250));
  }
  print_progress(s, p, st, true);
}

awaitable<void> snapshots(Session& s, RunState& st, const RunPlan& p, RunResult& out) {
  if (p.snapshot_every_s <= 0) co_return;
  size_t from = 0;
  double period_start = 0;
  const auto every = std::chrono::duration<double>(p.snapshot_every_s);
  for (int k = 1;; ++k) {
    co_await sleep_until(st.tick, st.epoch + std::chrono::duration_cast<Clock::duration>(every * k));
    const double now = seconds_since(st.epoch);
    std::vector<RequestResult> period(st.done.begin() + static_cast<std::ptrdiff_t>(from), st.done.end());
    from = st.done.size();
    if (st.finished && period.empty()) co_return;
    Snapshot snap{now, summarize_requests(period, now - period_start)};
    period_start = now;
    char line[200];
    std::snprintf(line, sizeof line,
                  "bench serve: soak %.0f s: %.2f req/s, %.1f tok/s, TTFT p50 %.1f ms, %lld errors\n", now,
                  snap.figures.requests_per_s, snap.figures.output_tokens_per_s, snap.figures.ttft.p50,
                  static_cast<long long>(snap.figures.errors.total()));
    if (s.tty) s.log << "\r\x1b[K";
    s.log << line << std::flush;
    out.snapshots.push_back(std::move(snap));
    if (st.finished) co_return;
  }
}

awaitable<std::optional<std::vector<MetricSample>>> scrape(Session& s, Target& t, Connection& conn) {
  const std::string path = "/metrics";
  const std::optional<std::string> body = co_await http_get(conn, t.ep, path, std::chrono::seconds(10));
  if (!body) co_return std::nullopt;
  try {
    co_return parse_prometheus_text(*body);
  } catch (const Error& e) {
    s.log << "bench serve: " << t.ep.url() << "/metrics: " << e.what() << "\n";
    co_return std::nullopt;
  }
}

constexpr size_t kMaxSamples = 2000;

// Every k-th value so that at most kMaxSamples remain, spread over the whole run.
std::vector<size_t> sample_indices(size_t n) {
  std::vector<size_t> idx;
  const size_t step = n <= kMaxSamples ? 1 : (n + kMaxSamples - 1) / kMaxSamples;
  for (size_t i = 0; i < n; i += step) idx.push_back(i);
  return idx;
}

awaitable<RunResult> execute(Session& s, Target& t, const RunPlan& p) {
  RunResult out;
  out.mode = p.mode;
  out.concurrency = p.concurrency;
  out.rate_rps = p.rate;
  const auto ex = co_await asio::this_coro::executor;
  Connection metrics_conn(ex, t.ep.at);
  std::optional<std::vector<MetricSample>> before;
  Clock::time_point before_at;
  if (t.hayate) {
    before = co_await scrape(s, t, metrics_conn);
    before_at = Clock::now();
  }

  RunState st(ex);
  Latch requests(ex), helpers(ex);
  std::vector<std::unique_ptr<Connection>> pool;
  s.spawn(sample_resources(s, st, out), helpers);
  s.spawn(progress(s, st, p), helpers);
  s.spawn(snapshots(s, st, p, out), helpers);
  if (p.concurrency) {
    for (int slot = 0; slot < *p.concurrency; ++slot) s.spawn(worker(s, t, st, p, slot), requests);
  } else {
    s.spawn(arrivals(s, t, st, p, requests, pool), requests);
  }
  co_await requests.wait();
  out.duration_s = seconds_since(st.epoch);
  if (!st.done.empty()) {
    double last_end = 0;
    for (const RequestResult& r : st.done) last_end = std::max(last_end, r.end_s);
    out.duration_s = last_end;
  }
  out.figures = summarize_requests(st.done, out.duration_s);
  // Scraped before the helpers (resource sampling, progress, snapshots) are waited for, so the
  // server's window closes as soon after the last answer as the server has counted it.
  if (before) {
    // The server counts a request once it has written the last byte, which may be a moment after
    // the client read it: wait (up to a second) until every answered request is counted.
    const double answered = static_cast<double>(out.figures.ok + out.figures.errors.http_4xx +
                                                out.figures.errors.http_5xx + out.figures.errors.http_429);
    const double base = sum_samples(*before, "hayate_requests_total", {{"route", t.route}});
    asio::steady_timer wait(ex);
    std::optional<std::vector<MetricSample>> after;
    const Clock::time_point give_up = Clock::now() + std::chrono::seconds(1);
    // The window ends when the final scrape is sent: its answer is the server's state then, and
    // its round trip is not part of the run.
    Clock::time_point after_at;
    for (;;) {
      after_at = Clock::now();
      after = co_await scrape(s, t, metrics_conn);
      if (!after || sum_samples(*after, "hayate_requests_total", {{"route", t.route}}) - base >= answered ||
          Clock::now() > give_up)
        break;
      co_await sleep_until(wait, Clock::now() + std::chrono::microseconds(200));
    }
    if (after) {
      ServerMetrics m;
      m.window_s = std::chrono::duration<double>(after_at - before_at).count();
      m.requests_total = sum_samples(*after, "hayate_requests_total", {{"route", t.route}}) - base;
      m.generated_tokens_total = sum_samples(*after, "hayate_generation_tokens_total") -
                                 sum_samples(*before, "hayate_generation_tokens_total");
      m.prompt_tokens_total =
          sum_samples(*after, "hayate_prompt_tokens_total") - sum_samples(*before, "hayate_prompt_tokens_total");
      out.server_metrics = m;
    }
  }
  st.finished = true;
  st.tick.cancel();
  co_await helpers.wait();
  for (auto& c : pool) c->close();
  if (s.failure) std::rethrow_exception(s.failure);

  for (size_t i : sample_indices(st.done.size())) {
    const RequestResult& r = st.done[i];
    if (r.outcome != Outcome::Ok || !r.ttft_ms) continue;
    out.ttft_samples_ms.push_back(*r.ttft_ms);
    out.e2e_samples_ms.push_back(r.e2e_ms);
  }
  for (const RequestResult& r : st.done)
    if (r.outcome != Outcome::Ok && r.outcome != Outcome::Cancelled && out.first_errors.size() < 5)
      out.first_errors.push_back(std::string(outcome_name(r.outcome)) + ": " + r.error);

  metrics_conn.close();
  co_return out;
}

void log_run(Session& s, const RunResult& r) {
  const RunFigures& f = r.figures;
  char line[300];
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.2f req/s", r.rate_rps.value_or(0));
  const std::string what = r.concurrency ? "c=" + std::to_string(*r.concurrency) : std::string(rate);
  std::snprintf(line, sizeof line,
                "bench serve: %s, %s: %lld/%lld ok, %lld errors, %.2f req/s, %.1f output tok/s, TTFT p50 %.1f ms, "
                "E2E p50 %.1f ms (%.1f s)\n",
                r.mode.c_str(), what.c_str(), static_cast<long long>(f.ok), static_cast<long long>(f.sent),
                static_cast<long long>(f.errors.total()), f.requests_per_s, f.output_tokens_per_s, f.ttft.p50,
                f.e2e.p50, r.duration_s);
  s.log << line;
  for (const std::string& e : r.first_errors) s.log << "  " << e << "\n";
  s.log << std::flush;
}

int64_t auto_requests(const ServeBenchConfig& c, int concurrency) {
  return c.requests > 0 ? c.requests : std::max<int64_t>(10, 4 * static_cast<int64_t>(concurrency));
}
int64_t auto_requests(const ServeBenchConfig& c, double rate) {
  return c.requests > 0 ? c.requests : std::max<int64_t>(20, static_cast<int64_t>(std::ceil(rate * 10)));
}

double error_rate(const RunFigures& f) {
  const int64_t finished = f.sent - f.cancelled;
  return finished > 0 ? static_cast<double>(f.errors.total()) / static_cast<double>(finished) : 0.0;
}

// One run, logged and kept; false when the bench was interrupted. (Plans are named variables,
// not temporaries in the co_await expression: g++ 12 mishandles those in coroutines.)
awaitable<bool> run_one(Session& s, Target& t, TargetResult& out, const RunPlan& p) {
  RunResult r = co_await execute(s, t, p);
  log_run(s, r);
  out.runs.push_back(std::move(r));
  co_return !s.interrupted;
}

awaitable<void> run_target(Session& s, Target& t, TargetResult& out) {
  const ServeBenchConfig& c = s.cfg;
  if (c.mode == "concurrency") {
    for (int n : c.concurrency) {
      const RunPlan p{"concurrency", n, std::nullopt, auto_requests(c, n), c.duration_s, 0};
      const bool go_on = co_await run_one(s, t, out, p);
      if (!go_on) break;
    }
    // Per-stream output speed against that of one stream alone.
    const RunResult* c1 = nullptr;
    for (const RunResult& r : out.runs)
      if (r.concurrency == 1 && r.figures.output_tokens_per_s > 0) c1 = &r;
    if (c1)
      for (RunResult& r : out.runs)
        r.degradation_vs_c1 = r.figures.output_tokens_per_s / *r.concurrency / c1->figures.output_tokens_per_s;
  } else if (c.mode == "rate") {
    for (double rate : c.rates) {
      const RunPlan p{"rate", std::nullopt, rate, auto_requests(c, rate), c.duration_s, 0};
      const bool go_on = co_await run_one(s, t, out, p);
      if (!go_on) break;
    }
  } else if (c.mode == "soak") {
    const int n = c.concurrency.empty() ? 1 : c.concurrency.front();
    const double duration = c.duration_s > 0 ? c.duration_s : 60;
    const RunPlan p{"soak", n, std::nullopt, 0, duration, c.snapshot_every_s};
    co_await run_one(s, t, out, p);
  } else if (c.mode == "overload") {
    // Doubling steps until the error rate passes the threshold (or the last step).
    const bool by_rate = !c.rates.empty();
    double level = by_rate ? c.rates.front() : (c.concurrency.empty() ? 1 : c.concurrency.front());
    for (;;) {
      RunPlan p{"overload", std::nullopt, std::nullopt, 0, c.duration_s, 0};
      if (by_rate) {
        p.rate = level;
        p.max_requests = auto_requests(c, level);
      } else {
        p.concurrency = static_cast<int>(level);
        p.max_requests = auto_requests(c, p.concurrency.value());
      }
      const bool go_on = co_await run_one(s, t, out, p);
      if (!go_on) break;
      const double rate = error_rate(out.runs.back().figures);
      if (rate > c.error_threshold) {
        for (RunResult& r : out.runs) {
          r.onset_concurrency = p.concurrency;
          r.onset_rate_rps = p.rate;
          r.onset_error_rate = rate;
        }
        s.log << "bench serve: errors begin at " << (by_rate ? "rate " : "concurrency ") << level << " (" << rate * 100
              << "% of requests failed)\n";
        break;
      }
      if (!by_rate && level >= c.max_concurrency) break;
      if (by_rate && out.runs.size() >= 12) break;
      level = by_rate ? level * 2 : std::min<double>(level * 2, c.max_concurrency);
    }
    if (out.runs.empty() || !out.runs.back().onset_error_rate)
      s.log << "bench serve: no step passed the error threshold of " << c.error_threshold * 100 << "%\n";
  }
}

// The fixed workload's prompt: text whose prompt_tokens (as the server counts them) is exactly
// the asked number, found by asking the server with max_tokens 1.
awaitable<int64_t> measure_prompt(Session& s, Target& t, Connection& conn, const std::string& model, int32_t want,
                                  int32_t units, int32_t pad) {
  nlohmann::json body = {{"prompt", synthetic_prompt_text(units, pad)}, {"max_tokens", 1}, {"temperature", 0}};
  if (!model.empty()) body["model"] = model;
  const std::string path = "/v1/completions", request = body.dump();
  const std::pair<int, std::string> answer = co_await http_post(conn, t.ep, path, request, s.timeout());
  const int status = answer.first;
  const std::string& text = answer.second;
  if (status != 200)
    fail(ErrorKind::BadInput, t.ep.url() + "/v1/completions: calibrating a " + std::to_string(want) +
                                  "-token prompt failed: HTTP " + std::to_string(status) + " " + text.substr(0, 300));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("usage") || !j["usage"].contains("prompt_tokens"))
    fail(ErrorKind::BadInput, t.ep.url() + "/v1/completions: the answer has no usage.prompt_tokens to calibrate with");
  co_return j["usage"]["prompt_tokens"].get<int64_t>();
}

awaitable<std::string> calibrate_prompt(Session& s, Target& t, const std::string& model, int32_t want) {
  Connection conn(co_await asio::this_coro::executor, t.ep.at);
  // Tokens per word from two lengths, then the pad characters for the remainder.
  const int32_t a = std::max(1, want / 8), b = 2 * a;
  const int64_t pa = co_await measure_prompt(s, t, conn, model, want, a, 0);
  const int64_t pb = co_await measure_prompt(s, t, conn, model, want, b, 0);
  const double per_unit = std::max(1.0, static_cast<double>(pb - pa) / (b - a));
  const double fixed = static_cast<double>(pa) - per_unit * a;
  int32_t units = std::max(1, static_cast<int32_t>(std::floor((want - fixed) / per_unit)));
  int64_t closest = 0;
  for (int attempt = 0; attempt < 24; ++attempt) {
    for (int32_t pad = 0; pad < 8; ++pad) {
      const int64_t got = co_await measure_prompt(s, t, conn, model, want, units, pad);
      if (std::abs(got - want) < std::abs(closest - want)) closest = got;
      if (got == want) {
        conn.close();
        co_return synthetic_prompt_text(units, pad);
      }
      if (got > want) break;
    }
    const int64_t at = co_await measure_prompt(s, t, conn, model, want, units, 0);
    if (at > want && units > 1)
      --units;
    else if (at < want - 8 * per_unit)
      units += std::max<int32_t>(1, static_cast<int32_t>((want - at) / per_unit));
    else
      break;
  }
  fail(ErrorKind::Unsupported, t.ep.url() + ": cannot make a prompt of exactly " + std::to_string(want) +
                                   " tokens with this tokenizer (closest: " + std::to_string(closest) + ")");
}

awaitable<void> run_all(Session& s, ServeBenchResult& result) {
  const ServeBenchConfig& c = s.cfg;
  for (size_t i = 0; i < c.urls.size() && !s.interrupted; ++i) {
    Target t;
    t.ep = parse_endpoint(c.urls[i]);
    t.ep.api_key = c.api_key;
    TargetResult tr;
    tr.url = c.urls[i];
    tr.label = i < c.labels.size() ? c.labels[i] : c.urls[i];
    tr.workload = c.workload;
    tr.max_tokens = c.workload.max_tokens > 0 ? c.workload.max_tokens : workload_default_max_tokens(c.workload.name);
    tr.pid = c.pid;
    Connection conn(co_await asio::this_coro::executor, t.ep.at);
    tr.model = c.model;
    if (tr.model.empty()) {
      const std::string path = "/v1/models";
      const std::optional<std::string> models = co_await http_get(conn, t.ep, path, std::chrono::seconds(10));
      const nlohmann::json j = models ? nlohmann::json::parse(*models, nullptr, false) : nlohmann::json();
      if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
          j["data"][0].contains("id") && j["data"][0]["id"].is_string())
        tr.model = j["data"][0]["id"].get<std::string>();
      else
        fail(ErrorKind::BadInput, c.urls[i] + "/v1/models: no model id in the answer" +
                                      (models ? "" : " (no HTTP 200: is the server up?)") + "; pass --model");
    }
    const auto metrics = co_await scrape(s, t, conn);
    t.hayate = metrics && has_hayate_metrics(*metrics);
    tr.server = t.hayate ? "hayate" : "unknown";
    conn.close();
    std::string prompt;
    if (c.workload.name == "fixed") {
      tr.prompt_tokens = c.workload.prompt_tokens > 0 ? c.workload.prompt_tokens : 128;
      prompt = co_await calibrate_prompt(s, t, tr.model, *tr.prompt_tokens);
    }
    t.workload = make_workload(c.workload, tr.model, prompt);
    t.route = c.workload.name == "fixed" ? "/v1/completions" : t.workload->next(-1).path;
    if (c.workload.name == "jsonl")
      t.workload = make_workload(c.workload, tr.model, prompt);  // from its first line again
    s.log << "bench serve: " << tr.label << " (" << tr.server << ", model " << tr.model << "), workload "
          << c.workload.name << ", " << c.mode << " mode\n";
    co_await run_target(s, t, tr);
    result.targets.push_back(std::move(tr));
  }
}

}  // namespace

RunFigures summarize_requests(const std::vector<RequestResult>& requests, double duration_s) {
  RunFigures f;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestResult& r : requests) {
    ++f.sent;
    switch (r.outcome) {
      case Outcome::Ok:
        ++f.ok;
        break;
      case Outcome::Cancelled:
        ++f.cancelled;
        break;
      case Outcome::Http4xx:
        ++f.errors.http_4xx;
        break;
      case Outcome::Http429:
        ++f.errors.http_429;
        break;
      case Outcome::Http5xx:
        ++f.errors.http_5xx;
        break;
      case Outcome::Timeout:
        ++f.errors.timeout;
        break;
      case Outcome::Connect:
        ++f.errors.connect;
        break;
      case Outcome::Protocol:
        ++f.errors.protocol;
        break;
    }
    if (r.outcome != Outcome::Ok) continue;
    f.prompt_tokens += r.prompt_tokens;
    f.output_tokens += r.completion_tokens;
    e2e.push_back(r.e2e_ms);
    if (r.ttft_ms) {
      ttft.push_back(*r.ttft_ms);
      if (r.completion_tokens > 1)
        tpot.push_back((r.e2e_ms - *r.ttft_ms) / static_cast<double>(r.completion_tokens - 1));
    }
    itl.insert(itl.end(), r.itl_ms.begin(), r.itl_ms.end());
  }
  if (duration_s > 0) {
    f.requests_per_s = static_cast<double>(f.ok) / duration_s;
    f.output_tokens_per_s = static_cast<double>(f.output_tokens) / duration_s;
    f.total_tokens_per_s = static_cast<double>(f.prompt_tokens + f.output_tokens) / duration_s;
  }
  f.ttft = percentiles(ttft);
  f.tpot = percentiles(tpot);
  f.itl = percentiles(itl);
  f.e2e = percentiles(e2e);
  return f;
}

ServeBenchResult run_serve_bench(const ServeBenchConfig& config, std::ostream& log, std::atomic<bool>* stop) {
  if (config.urls.empty()) fail(ErrorKind::BadInput, "bench serve needs at least one --url");
  if (config.mode == "rate" && config.rates.empty()) fail(ErrorKind::BadInput, "--mode rate needs --rate R[,R...]");
  if ((config.mode == "concurrency" || config.mode == "soak") && config.concurrency.empty())
    fail(ErrorKind::BadInput, "--concurrency needs at least one value");
  for (int c : config.concurrency)
    if (c < 1) fail(ErrorKind::BadInput, "--concurrency values must be at least 1");
  for (double r : config.rates)
    if (!(r > 0)) fail(ErrorKind::BadInput, "--rate values must be positive");
  // Every stream holds a socket: lift the soft limit on open files to the hard one.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  ServeBenchResult result;
  result.system = collect_system_info();
  asio::io_context ioc(1);
  Session s(ioc, config, log);
  s.tty = config.progress && ::isatty(STDERR_FILENO);
  s.nvml = Nvml::open(result.gpu_note, config.nvml_library.c_str());
  if (!s.nvml) log << "bench serve: " << result.gpu_note << "\n";
  asio::signal_set signals(ioc, SIGINT);
  signals.async_wait([&](error_code ec, int) {
    if (ec) return;
    log << "\nbench serve: interrupted; keeping what was measured\n";
    s.interrupt();
  });
  asio::steady_timer stop_poll(ioc);
  std::function<void(error_code)> poll = [&](error_code ec) {
    if (ec) return;
    if (stop && stop->load()) s.interrupt();
    stop_poll.expires_after(std::chrono::milliseconds(50));
    stop_poll.async_wait(poll);
  };
  if (stop) poll({});
  std::exception_ptr failure;
  asio::co_spawn(ioc, run_all(s, result), [&](std::exception_ptr e) {
    failure = e;
    signals.cancel();
    stop_poll.cancel();
  });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
  result.interrupted = s.interrupted;
  return result;
}

}  // namespace hayate::bench
