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

// A soak run's bookkeeping: the state it resumed from (or an empty one), grown as periods end.
struct SoakRun {
  SoakState state;
  double offset_s = 0;  // the seconds of the run before this session (resumed)
};

struct RunState {
  explicit RunState(asio::any_io_executor ex) : tick(ex), sample_tick(ex), snapshot_tick(ex), slot_free(ex) {}
  SoakRun* soak = nullptr;  // soak mode: periods fold their requests into its ledger
  Clock::time_point epoch = Clock::now();
  std::vector<RequestResult> done;
  int64_t issued = 0;
  int64_t in_flight = 0;
  bool finished = false;
  // One timer per helper coroutine (progress, resource samples, snapshots): setting a timer's
  // expiry cancels its pending wait, so helpers sharing one woke each other early and raced ahead
  // of the clock. The run's end cancels all three.
  asio::steady_timer tick, sample_tick, snapshot_tick;
  asio::steady_timer slot_free;  // rate mode: a request ended
};

bool may_issue(const Session& s, const RunPlan& p, const RunState& st) {
  if (s.interrupted) return false;
  if (p.max_requests > 0 && st.issued >= p.max_requests) return false;
  if (p.max_duration_s > 0 && seconds_since(st.epoch) >= p.max_duration_s) return false;
  return true;
}

awaitable<Outcome> issue(Session& s, Target& t, RunState& st, Connection& conn, int64_t stream) {
  ++st.issued;
  ++st.in_flight;
  const StreamRequest req = t.workload->next(stream);
  s.in_flight.insert(&conn);
  RequestResult r = co_await stream_once(conn, t.ep, req, st.epoch, s.timeout());
  s.in_flight.erase(&conn);
  t.workload->completed(stream, r);
  const Outcome outcome = r.outcome;
  if (st.soak) {  // the text is not needed again, and a day of it would not fit
    r.text.clear();
    r.text.shrink_to_fit();
  }
  st.done.push_back(std::move(r));
  --st.in_flight;
  st.slot_free.cancel();
  co_return outcome;
}

awaitable<void> worker(Session& s, Target& t, RunState& st, const RunPlan& p, int slot) {
  Connection conn(co_await asio::this_coro::executor, t.ep.at);
  asio::steady_timer pause(co_await asio::this_coro::executor);
  s.wake_on_interrupt.insert(&pause);
  while (may_issue(s, p, st)) {
    const Outcome outcome = co_await issue(s, t, st, conn, slot);
    // An unattended soak outlives a server restart: retry a refused connection each second
    // rather than spinning (and counting) thousands of refusals.
    if (st.soak && outcome == Outcome::Connect && may_issue(s, p, st))
      co_await sleep_until(pause, Clock::now() + std::chrono::seconds(1));
  }
  s.wake_on_interrupt.erase(&pause);
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

constexpr size_t kMaxResourceSamples = 4096;

awaitable<void> sample_resources(Session& s, RunState& st, RunResult& out) {
  std::optional<ProcessProbe> probe;
  if (s.cfg.pid > 0) probe.emplace(static_cast<pid_t>(s.cfg.pid));
  if (!probe && !s.nvml) co_return;
  auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.cfg.sample_interval_s));
  const double offset = st.soak ? st.soak->offset_s : 0;
  for (Clock::time_point next = st.epoch; !st.finished; next += every) {
    ResourceSample r;
    r.t_s = offset + seconds_since(st.epoch);
    if (probe) probe->sample(r);
    if (s.nvml) s.nvml->sample(r);
    out.resources.push_back(r);
    // Hours of samples stay a few thousand: past the cap, every other one goes and the interval doubles.
    if (out.resources.size() >= kMaxResourceSamples) {
      for (size_t i = 0; 2 * i < out.resources.size(); ++i) out.resources[i] = out.resources[2 * i];
      out.resources.resize((out.resources.size() + 1) / 2);
      every *= 2;
    }
    co_await sleep_until(st.sample_tick, next + every);
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

awaitable<std::optional<std::vector<MetricSample>>> scrape(Session& s, Target& t, Connection& conn);

// A soak period's end: its requests folded into the ledger (and dropped), the server probed, the
// state saved for --resume.
awaitable<void> soak_period(Session& s, Target& t, RunState& st, Snapshot& snap, Connection& conn) {
  SoakRun& soak = *st.soak;
  for (const RequestResult& r : st.done) soak.state.ledger.add(r, soak.offset_s);
  st.done.clear();
  snap.t_s += soak.offset_s;
  snap.server = probe_process(s.cfg.pid);
  if (t.hayate)
    if (const auto m = co_await scrape(s, t, conn))
      snap.server.kv_blocks_active = sum_samples(*m, "hayate_kv_blocks_active");
  soak.state.elapsed_s = snap.t_s;
  soak.state.snapshots.push_back(snap);
  if (!s.cfg.state_file.empty()) {
    try {
      save_soak_state(s.cfg.state_file, soak.state);
    } catch (const Error& e) {  // a full disk must not end a day's run: the next period tries again
      s.log << "bench serve: cannot save the soak state: " << e.what() << "\n";
    }
  }
}

awaitable<void> snapshots(Session& s, Target& t, RunState& st, const RunPlan& p, RunResult& out) {
  if (p.snapshot_every_s <= 0) co_return;
  Connection conn(co_await asio::this_coro::executor, t.ep.at);
  size_t from = 0;
  double period_start = 0;
  const auto every = std::chrono::duration<double>(p.snapshot_every_s);
  for (int k = 1;; ++k) {
    co_await sleep_until(st.snapshot_tick, st.epoch + std::chrono::duration_cast<Clock::duration>(every * k));
    const double now = seconds_since(st.epoch);
    std::vector<RequestResult> period(st.done.begin() + static_cast<std::ptrdiff_t>(from), st.done.end());
    from = st.done.size();
    if (st.finished && period.empty()) break;
    Snapshot snap{now, summarize_requests(period, now - period_start), {}};
    period_start = now;
    char line[300];
    std::snprintf(line, sizeof line, "bench serve: soak %.0f s: %.2f req/s, %.1f tok/s, TTFT p50 %.1f ms, %lld errors",
                  now, snap.figures.requests_per_s, snap.figures.output_tokens_per_s, snap.figures.ttft.p50,
                  static_cast<long long>(snap.figures.errors.total()));
    std::string text = line;
    if (st.soak) {
      co_await soak_period(s, t, st, snap, conn);
      from = 0;
      std::snprintf(line, sizeof line,
                    " (at %.0f s of the run; TTFT p99 %.1f ms, RSS %.1f MiB, %lld fds, %.0f KV blocks)", snap.t_s,
                    snap.figures.ttft.p99, static_cast<double>(snap.server.rss_bytes.value_or(0)) / (1 << 20),
                    static_cast<long long>(snap.server.open_fds.value_or(0)), snap.server.kv_blocks_active.value_or(0));
      text += line;
    } else {
      out.snapshots.push_back(snap);
    }
    if (s.tty) s.log << "\r\x1b[K";
    s.log << text << "\n" << std::flush;
    if (st.finished) break;
  }
  conn.close();
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

// The end of a soak session: the last requests into the ledger, the whole run's figures, the KV
// blocks given time to come back, the verdict (not for an interrupted run) and the state saved.
awaitable<void> finish_soak(Session& s, Target& t, RunState& st, RunResult& out, Connection& conn) {
  SoakRun& soak = *st.soak;
  for (const RequestResult& r : st.done) soak.state.ledger.add(r, soak.offset_s);
  st.done.clear();
  out.resumed_from_s = soak.offset_s;
  out.duration_s += soak.offset_s;
  soak.state.elapsed_s = out.duration_s;
  const SoakLedger& ledger = soak.state.ledger;
  out.figures = ledger.figures(out.duration_s);
  out.snapshots = soak.state.snapshots;
  out.first_errors = ledger.first_errors();
  for (size_t i : sample_indices(ledger.ttft_sample().size())) out.ttft_samples_ms.push_back(ledger.ttft_sample()[i]);
  for (size_t i : sample_indices(ledger.e2e_sample().size())) out.e2e_samples_ms.push_back(ledger.e2e_sample()[i]);
  if (t.hayate) {  // the engine frees a cancelled sequence's blocks at its next step
    asio::steady_timer wait(co_await asio::this_coro::executor);
    const Clock::time_point give_up = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                         std::chrono::duration<double>(s.cfg.soak.kv_drain_s));
    for (;;) {
      if (const auto m = co_await scrape(s, t, conn)) out.kv_blocks_at_end = sum_samples(*m, "hayate_kv_blocks_active");
      if (out.kv_blocks_at_end == 0.0 || Clock::now() > give_up) break;
      co_await sleep_until(wait, Clock::now() + std::chrono::milliseconds(100));
    }
  }
  if (!s.interrupted)
    out.soak_checks = judge_soak(ledger, soak.state.snapshots, out.kv_blocks_at_end, out.duration_s, s.cfg.soak);
  if (!s.cfg.state_file.empty()) save_soak_state(s.cfg.state_file, soak.state);
}

awaitable<RunResult> execute(Session& s, Target& t, const RunPlan& p, SoakRun* soak = nullptr) {
  RunResult out;
  out.mode = p.mode;
  out.concurrency = p.concurrency;
  out.rate_rps = p.rate;
  const auto ex = co_await asio::this_coro::executor;
  Connection metrics_conn(ex, t.ep.at);
  std::optional<std::vector<MetricSample>> before;
  Clock::time_point before_at;
  if (t.hayate && !soak) {  // a soak's counts live in its ledger, across sessions
    before = co_await scrape(s, t, metrics_conn);
    before_at = Clock::now();
  }

  t.workload->begin_run();
  RunState st(ex);
  st.soak = soak;
  Latch requests(ex), helpers(ex);
  std::vector<std::unique_ptr<Connection>> pool;
  s.spawn(sample_resources(s, st, out), helpers);
  s.spawn(progress(s, st, p), helpers);
  s.spawn(snapshots(s, t, st, p, out), helpers);
  if (p.concurrency) {
    for (int slot = 0; slot < *p.concurrency; ++slot) s.spawn(worker(s, t, st, p, slot), requests);
  } else {
    s.spawn(arrivals(s, t, st, p, requests, pool), requests);
  }
  co_await requests.wait();
  out.duration_s = seconds_since(st.epoch);
  if (!st.done.empty() && !soak) {
    double last_end = 0;
    for (const RequestResult& r : st.done) last_end = std::max(last_end, r.end_s);
    out.duration_s = last_end;
  }
  out.figures = summarize_requests(st.done, out.duration_s);
  out.retention = t.workload->retention();
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
  st.sample_tick.cancel();
  st.snapshot_tick.cancel();
  co_await helpers.wait();
  for (auto& c : pool) c->close();
  if (s.failure) std::rethrow_exception(s.failure);
  if (soak) co_await finish_soak(s, t, st, out, metrics_conn);
  out.resource_summary =
      summarize_resources(out.resources, out.duration_s, out.figures.output_tokens, out.figures.output_tokens_per_s);

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
  if (r.retention)
    s.log << "bench serve: context retention " << r.retention->retained << "/" << r.retention->conversations
          << " conversations gave the turn-1 fact back\n";
  if (r.resource_summary.energy_per_output_token_j)
    s.log << "bench serve: " << *r.resource_summary.energy_per_output_token_j << " J per output token (GPU)\n";
  for (const std::string& e : r.first_errors) s.log << "  " << e << "\n";
  s.log << std::flush;
}

int64_t auto_requests(const ServeBenchConfig& c, int concurrency) {
  if (c.requests > 0) return c.requests;
  // Retention is scored per whole conversation: every stream runs one to its last turn.
  if (c.workload.name == "retention") return static_cast<int64_t>(std::max(2, c.workload.turns)) * concurrency;
  return std::max<int64_t>(10, 4 * static_cast<int64_t>(concurrency));
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
    SoakRun soak;
    const nlohmann::json identity = {
        {"url", t.ep.url()}, {"concurrency", n}, {"workload", c.workload.name}, {"duration_s", duration}};
    if (c.resume) {
      soak.state = load_soak_state(c.state_file, identity, c.soak.window_s);
      soak.offset_s = soak.state.elapsed_s;
      s.log << "bench serve: resuming the soak at " << soak.offset_s << " s of " << duration << " s\n";
    } else {
      soak.state.ledger = SoakLedger(c.soak.window_s);
    }
    soak.state.identity = identity;
    const RunPlan p{"soak", n, std::nullopt, 0, std::max(duration - soak.offset_s, 1e-3), c.snapshot_every_s};
    RunResult r = co_await execute(s, t, p, &soak);
    log_run(s, r);
    for (const SoakCheck& check : r.soak_checks)
      s.log << "bench serve: soak check " << check.name << ": "
            << (!check.passed   ? "not judged"
                : *check.passed ? "passed"
                                : "FAILED")
            << " (" << check.detail << ")\n";
    out.runs.push_back(std::move(r));
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

// The rag workload's collection on the server: made (or found, from an earlier run) and given the
// generated corpus, whose documents are left as they are when already there (same content).
awaitable<void> prepare_rag_collection(Session& s, Target& t, uint64_t seed) {
  Connection conn(co_await asio::this_coro::executor, t.ep.at);
  const std::string name = kRagCollection;
  const std::pair<int, std::string> made =
      co_await http_post(conn, t.ep, "/v1/collections", rag_collection_body(), s.timeout());
  if (made.first != 200 && !(made.first == 400 && made.second.find("exists") != std::string::npos))
    fail(ErrorKind::BadInput, t.ep.url() + "/v1/collections: cannot make the collection '" + name + "' (HTTP " +
                                  std::to_string(made.first) + ": " + made.second.substr(0, 200) +
                                  "); the rag workload needs hayate serve with --collections-dir or --rag-store");
  const auto started = std::chrono::steady_clock::now();
  // A few documents a request: every chunk of a request waits in the engine's queue at once.
  const nlohmann::json corpus = rag_corpus(seed);
  for (size_t at = 0; at < corpus.size(); at += 8) {
    nlohmann::json documents = nlohmann::json::object();
    documents["documents"] = nlohmann::json::array();
    for (size_t k = at; k < std::min(corpus.size(), at + 8); ++k) documents["documents"].push_back(corpus[k]);
    const std::pair<int, std::string> added =
        co_await http_post(conn, t.ep, "/v1/collections/" + name + "/documents", documents.dump(), s.timeout());
    if (added.first != 200)
      fail(ErrorKind::BadInput, t.ep.url() + "/v1/collections/" + name + "/documents: the corpus was refused (HTTP " +
                                    std::to_string(added.first) + ": " + added.second.substr(0, 200) + ")");
  }
  s.log << "bench serve: collection '" << name << "' holds the corpus (" << corpus.size() << " documents, ingest "
        << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s)\n";
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
    tr.ladder = c.ladder;
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
    if (c.workload.name == "rag") co_await prepare_rag_collection(s, t, c.workload.seed);
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

std::vector<int> named_ladder(const std::string& name) {
  if (name == "seed") return {1, 5, 10, 20};  // the benchmark programme's users (issue 23)
  fail(ErrorKind::BadInput, "unknown ladder \"" + name + "\" (seed: 1, 5, 10, 20 concurrent users)");
}

RunFigures summarize_requests(const std::vector<RequestResult>& requests, double duration_s) {
  RunFigures f;
  std::vector<double> ttft, tpot, itl, e2e;
  std::map<std::string, std::vector<double>> stages;
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
    for (const auto& [stage, ms] : r.stage_ms) stages[stage].push_back(ms);
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
  for (const auto& [stage, values] : stages) f.stages[stage] = percentiles(values);
  return f;
}

ServeBenchResult run_serve_bench(const ServeBenchConfig& given, std::ostream& log, std::atomic<bool>* stop) {
  ServeBenchConfig config = given;
  if (!config.ladder.empty()) config.concurrency = named_ladder(config.ladder);
  if (config.urls.empty()) fail(ErrorKind::BadInput, "bench serve needs at least one --url");
  if (config.mode == "rate" && config.rates.empty()) fail(ErrorKind::BadInput, "--mode rate needs --rate R[,R...]");
  if (config.resume && config.state_file.empty()) fail(ErrorKind::BadInput, "--resume needs --state FILE");
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
