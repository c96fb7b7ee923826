#include "bench/soak.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/resource_sampler.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace hayate::bench {
namespace {

using Json = nlohmann::json;

constexpr const char* kStateSchema = "hayate.bench.soak-state/1";
constexpr size_t kFirstErrors = 5;

Json percentiles_to_json(const Percentiles& p) {
  return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p95", p.p95},
          {"p99", p.p99},   {"min", p.min}, {"max", p.max}, {"count", p.count}};
}

Percentiles percentiles_from_json(const Json& j) {
  Percentiles p;
  p.mean = j.at("mean");
  p.p50 = j.at("p50");
  p.p90 = j.at("p90");
  p.p95 = j.at("p95");
  p.p99 = j.at("p99");
  p.min = j.at("min");
  p.max = j.at("max");
  p.count = j.at("count");
  return p;
}

template <typename T>
Json optional_to_json(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

template <typename T>
std::optional<T> optional_from_json(const Json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<T>();
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

std::string number(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

void Reservoir::add(double v) {
  ++seen_;
  if (values_.size() < capacity_) {
    values_.push_back(v);
    return;
  }
  const uint64_t slot = rng_() % seen_;
  if (slot < capacity_) values_[slot] = v;
}

Json Reservoir::to_json() const {
  std::ostringstream state;
  state << rng_;
  return {{"seen", seen_}, {"values", values_}, {"rng", state.str()}};
}

void Reservoir::from_json(const Json& j) {
  seen_ = j.at("seen");
  values_ = j.at("values").get<std::vector<double>>();
  std::istringstream state(j.at("rng").get<std::string>());
  state >> rng_;
  if (values_.size() > capacity_) values_.resize(capacity_);
}

void SoakLedger::add(const RequestResult& r, double offset_s) {
  ++sent_;
  switch (r.outcome) {
    case Outcome::Ok:
      ++ok_;
      break;
    case Outcome::Cancelled:
      ++cancelled_;
      break;
    case Outcome::Http4xx:
      ++errors_[0];
      break;
    case Outcome::Http5xx:
      ++errors_[1];
      break;
    case Outcome::Http429:
      ++errors_[2];
      break;
    case Outcome::Timeout:
      ++errors_[3];
      break;
    case Outcome::Connect:
      ++errors_[4];
      break;
    case Outcome::Protocol:
      ++errors_[5];
      break;
  }
  if (r.outcome != Outcome::Ok && r.outcome != Outcome::Cancelled && first_errors_.size() < kFirstErrors)
    first_errors_.push_back(std::string(outcome_name(r.outcome)) + ": " + r.error);
  if (r.outcome != Outcome::Ok) return;
  prompt_ += r.prompt_tokens;
  output_ += r.completion_tokens;
  e2e_.add(r.e2e_ms);
  for (double gap : r.itl_ms) itl_.add(gap);
  if (!r.ttft_ms) return;
  ttft_.add(*r.ttft_ms);
  if (r.completion_tokens > 1) tpot_.add((r.e2e_ms - *r.ttft_ms) / static_cast<double>(r.completion_tokens - 1));
  const double start = r.start_s + offset_s, end = r.end_s + offset_s;
  if (start < window_s_) first_ttft_.push_back(*r.ttft_ms);
  recent_ttft_.emplace_back(end, *r.ttft_ms);
  // Requests end out of order by a little; the window is trimmed from its oldest end.
  while (!recent_ttft_.empty() && recent_ttft_.front().first < end - 2 * window_s_) recent_ttft_.pop_front();
}

std::vector<double> SoakLedger::last_window_ttft(double run_end_s) const {
  std::vector<double> out;
  for (const auto& [end, ttft] : recent_ttft_)
    if (end >= run_end_s - window_s_) out.push_back(ttft);
  return out;
}

RunFigures SoakLedger::figures(double duration_s) const {
  RunFigures f;
  f.sent = sent_;
  f.ok = ok_;
  f.cancelled = cancelled_;
  f.errors = {errors_[0], errors_[1], errors_[2], errors_[3], errors_[4], errors_[5]};
  f.prompt_tokens = prompt_;
  f.output_tokens = output_;
  if (duration_s > 0) {
    f.requests_per_s = static_cast<double>(ok_) / duration_s;
    f.output_tokens_per_s = static_cast<double>(output_) / duration_s;
    f.total_tokens_per_s = static_cast<double>(prompt_ + output_) / duration_s;
  }
  f.ttft = percentiles(ttft_.values());
  f.tpot = percentiles(tpot_.values());
  f.itl = percentiles(itl_.values());
  f.e2e = percentiles(e2e_.values());
  return f;
}

Json SoakLedger::to_json() const {
  Json recent = Json::array();
  for (const auto& [end, ttft] : recent_ttft_) recent.push_back({end, ttft});
  return {{"sent", sent_},
          {"ok", ok_},
          {"cancelled", cancelled_},
          {"prompt_tokens", prompt_},
          {"output_tokens", output_},
          {"errors", std::vector<int64_t>(std::begin(errors_), std::end(errors_))},
          {"ttft", ttft_.to_json()},
          {"tpot", tpot_.to_json()},
          {"itl", itl_.to_json()},
          {"e2e", e2e_.to_json()},
          {"first_window_ttft", first_ttft_},
          {"recent_ttft", recent},
          {"first_errors", first_errors_}};
}

void SoakLedger::from_json(const Json& j) {
  sent_ = j.at("sent");
  ok_ = j.at("ok");
  cancelled_ = j.at("cancelled");
  prompt_ = j.at("prompt_tokens");
  output_ = j.at("output_tokens");
  const auto errors = j.at("errors").get<std::vector<int64_t>>();
  if (errors.size() != 6) fail(ErrorKind::BadInput, "errors: expected 6 counts");
  std::copy(errors.begin(), errors.end(), errors_);
  ttft_.from_json(j.at("ttft"));
  tpot_.from_json(j.at("tpot"));
  itl_.from_json(j.at("itl"));
  e2e_.from_json(j.at("e2e"));
  first_ttft_ = j.at("first_window_ttft").get<std::vector<double>>();
  recent_ttft_.clear();
  for (const Json& p : j.at("recent_ttft")) recent_ttft_.emplace_back(p.at(0).get<double>(), p.at(1).get<double>());
  first_errors_ = j.at("first_errors").get<std::vector<std::string>>();
}

ServerProbe probe_process(int pid) {
  ServerProbe p;
  if (pid <= 0) return p;
  ResourceSample s;
  ProcessProbe(static_cast<pid_t>(pid)).sample(s);
  p.rss_bytes = s.rss_bytes;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    int64_t n = 0;
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    p.open_fds = n;
  }
  return p;
}

std::vector<SoakCheck> judge_soak(const SoakLedger& ledger, const std::vector<Snapshot>& snapshots,
                                  std::optional<double> kv_blocks_at_end, double run_end_s, const SoakLimits& limits) {
  std::vector<SoakCheck> out;
  const RunFigures f = ledger.figures(run_end_s);
  out.push_back({"no_5xx", f.errors.http_5xx == 0, std::to_string(f.errors.http_5xx) + " answers with a 5xx status"});
  out.push_back(
      {"no_hung_streams", f.errors.timeout == 0, std::to_string(f.errors.timeout) + " requests ran past --timeout"});
  out.push_back({"streams_complete", f.errors.protocol == 0 && f.errors.connect == 0,
                 std::to_string(f.errors.protocol) + " streams broken or malformed, " +
                     std::to_string(f.errors.connect) + " connections refused"});

  // Resident memory after warm-up: growth of the peak over the first sample after warm-up.
  std::optional<double> base, peak;
  std::optional<int64_t> fds_base, fds_peak;
  for (const Snapshot& s : snapshots) {
    if (s.t_s < limits.warmup_s || !s.server.rss_bytes) continue;
    const auto rss = static_cast<double>(*s.server.rss_bytes);
    if (!base) base = rss;
    peak = std::max(peak.value_or(rss), rss);
    if (s.server.open_fds) {
      if (!fds_base) fds_base = *s.server.open_fds;
      fds_peak = std::max(fds_peak.value_or(*s.server.open_fds), *s.server.open_fds);
    }
  }
  SoakCheck rss{"rss_flat", std::nullopt, ""};
  if (base && peak && *peak != *base) {
    const double growth = (*peak - *base) / *base * 100;
    rss.passed = growth <= limits.max_rss_growth_pct;
    rss.detail = "RSS " + mib(*base) + " after warm-up, peak " + mib(*peak) + " (+" + number(growth, 2) + "%, limit " +
                 number(limits.max_rss_growth_pct, 1) + "%)";
  } else if (base) {
    rss.passed = true;
    rss.detail = "RSS " + mib(*base) + " after warm-up, never higher";
  } else {
    rss.detail = "no memory samples after the warm-up of " + number(limits.warmup_s, 0) +
                 " s (pass --pid, and run longer than the warm-up)";
  }
  if (fds_base) rss.detail += "; open fds " + std::to_string(*fds_base) + " then at most " + std::to_string(*fds_peak);
  out.push_back(rss);

  SoakCheck kv{"kv_blocks_zero", std::nullopt, "no hayate_kv_blocks_active at the end (not a hayate server?)"};
  if (kv_blocks_at_end) {
    kv.passed = *kv_blocks_at_end == 0;
    kv.detail = number(*kv_blocks_at_end, 0) + " KV blocks held after the last request";
  }
  out.push_back(kv);

  SoakCheck ttft{"ttft_p99_stable", std::nullopt, ""};
  const std::vector<double> last = ledger.last_window_ttft(run_end_s);
  const std::vector<double>& first = ledger.first_window_ttft();
  if (run_end_s < 2 * limits.window_s || first.size() < 20 || last.size() < 20) {
    ttft.detail =
        "the run is shorter than two windows of " + number(limits.window_s, 0) + " s or a window has under 20 answers";
  } else {
    const double p_first = percentiles(first).p99, p_last = percentiles(last).p99;
    const double drift = p_first > 0 ? (p_last / p_first - 1) * 100 : 0;
    ttft.passed = std::fabs(drift) <= limits.max_ttft_drift_pct;
    ttft.detail = "TTFT p99 " + number(p_first) + " ms in the first " + number(limits.window_s, 0) + " s, " +
                  number(p_last) + " ms in the last (" + (drift >= 0 ? "+" : "") + number(drift) + "%, limit " +
                  number(limits.max_ttft_drift_pct, 0) + "%)";
  }
  out.push_back(ttft);
  return out;
}

Json snapshot_to_state(const Snapshot& s) {
  const RunFigures& f = s.figures;
  return {{"t_s", s.t_s},
          {"sent", f.sent},
          {"ok", f.ok},
          {"cancelled", f.cancelled},
          {"errors",
           {f.errors.http_4xx, f.errors.http_5xx, f.errors.http_429, f.errors.timeout, f.errors.connect,
            f.errors.protocol}},
          {"tokens", {f.prompt_tokens, f.output_tokens}},
          {"throughput", {f.requests_per_s, f.output_tokens_per_s, f.total_tokens_per_s}},
          {"ttft", percentiles_to_json(f.ttft)},
          {"tpot", percentiles_to_json(f.tpot)},
          {"itl", percentiles_to_json(f.itl)},
          {"e2e", percentiles_to_json(f.e2e)},
          {"rss_bytes", optional_to_json(s.server.rss_bytes)},
          {"open_fds", optional_to_json(s.server.open_fds)},
          {"kv_blocks_active", optional_to_json(s.server.kv_blocks_active)}};
}

Snapshot snapshot_from_state(const Json& j) {
  Snapshot s;
  RunFigures& f = s.figures;
  s.t_s = j.at("t_s");
  f.sent = j.at("sent");
  f.ok = j.at("ok");
  f.cancelled = j.at("cancelled");
  const Json& e = j.at("errors");
  f.errors = {e.at(0), e.at(1), e.at(2), e.at(3), e.at(4), e.at(5)};
  f.prompt_tokens = j.at("tokens").at(0);
  f.output_tokens = j.at("tokens").at(1);
  f.requests_per_s = j.at("throughput").at(0);
  f.output_tokens_per_s = j.at("throughput").at(1);
  f.total_tokens_per_s = j.at("throughput").at(2);
  f.ttft = percentiles_from_json(j.at("ttft"));
  f.tpot = percentiles_from_json(j.at("tpot"));
  f.itl = percentiles_from_json(j.at("itl"));
  f.e2e = percentiles_from_json(j.at("e2e"));
  s.server.rss_bytes = optional_from_json<uint64_t>(j.at("rss_bytes"));
  s.server.open_fds = optional_from_json<int64_t>(j.at("open_fds"));
  s.server.kv_blocks_active = optional_from_json<double>(j.at("kv_blocks_active"));
  return s;
}

void save_soak_state(const std::string& path, const SoakState& state) {
  Json snaps = Json::array();
  for (const Snapshot& s : state.snapshots) snaps.push_back(snapshot_to_state(s));
  const Json j = {{"schema", kStateSchema},
                  {"identity", state.identity},
                  {"elapsed_s", state.elapsed_s},
                  {"ledger", state.ledger.to_json()},
                  {"snapshots", snaps}};
  write_file_atomically(path, j.dump());
}

SoakState load_soak_state(const std::string& path, const Json& identity, double window_s) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorKind::NotFound, path + ": no soak state to resume (it is written by --state FILE)");
  const std::string text((std::istreambuf_iterator<char>(f)), {});
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("schema", "") != kStateSchema)
    fail(ErrorKind::BadInput, path + ": not a soak state file (schema " + std::string(kStateSchema) + ")");
  SoakState st;
  st.identity = j.value("identity", Json::object());
  for (const auto& [key, want] : identity.items())
    if (st.identity.value(key, Json()) != want)
      fail(ErrorKind::BadInput, path + ": the saved run has " + key + " " + st.identity.value(key, Json()).dump() +
                                    ", this one " + want.dump() + "; resume with the same settings");
  st.ledger = SoakLedger(window_s);
  try {
    st.elapsed_s = j.at("elapsed_s");
    st.ledger.from_json(j.at("ledger"));
    for (const Json& s : j.at("snapshots")) st.snapshots.push_back(snapshot_from_state(s));
  } catch (const Json::exception& e) {
    fail(ErrorKind::BadInput, path + ": a damaged soak state: " + e.what());
  }
  return st;
}

}  // namespace hayate::bench
