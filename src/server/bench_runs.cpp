#include "server/bench_runs.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/routes.h"

extern char** environ;

namespace hayate::server {
namespace {

using nlohmann::json;

constexpr int kMaxLevels = 4, kMaxStreams = 8, kMaxRequests = 64, kMaxTokens = 128;
constexpr auto kLimit = std::chrono::minutes(5);

// One run at a time for the whole process; the worker thread outlives any request, so the state is
// never destroyed (a static object would be, at exit, under a running worker).
struct BenchState {
  std::mutex mu;
  std::string target;
  std::string state = "idle";  // idle, running, done, failed
  std::string error;
  json params = json::object();
  int64_t started = 0, finished = 0;
  std::filesystem::path dir;
};
BenchState& bench() {
  static auto* s = new BenchState;
  return *s;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The exit status of `argv` run with stdout and stderr appended to `log`, killed past `deadline`;
// -1 when it could not start or was killed.
int run_child(std::vector<std::string> argv, const std::string& log, const std::string& key,
              std::chrono::steady_clock::time_point deadline) {
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("HAYATE_", 0) != 0) env.emplace_back(*e);  // not this server's settings
  if (!key.empty()) env.push_back("HAYATE_API_KEY=" + key);
  std::vector<char*> args, envp;
  for (std::string& a : argv) args.push_back(a.data());
  for (std::string& e : env) envp.push_back(e.data());
  args.push_back(nullptr);
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &files, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void run_sweep(std::vector<std::string> bench_args, std::filesystem::path dir, std::string key) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string log = (dir / "bench.log").string(), results = (dir / "results.json").string();
  const auto deadline = std::chrono::steady_clock::now() + kLimit;
  std::vector<std::string> argv = {self, "bench", "serve"};
  argv.insert(argv.end(), bench_args.begin(), bench_args.end());
  argv.insert(argv.end(), {"--out", results, "--no-progress"});
  std::string error;
  if (run_child(argv, log, key, deadline) != 0)
    error = "bench serve failed or ran past 5 minutes (its log is below)";
  else if (run_child({self, "report", results, "--html", (dir / "report.html").string()}, log, "", deadline) != 0)
    error = "report failed (its log is below)";
  BenchState& b = bench();
  std::lock_guard lk(b.mu);
  b.state = error.empty() ? "done" : "failed";
  b.error = error;
  b.finished = unix_now();
}

// A list of 1 to kMaxLevels stream counts, each 1..kMaxStreams; ApiError 400 naming the field.
std::string concurrency_arg(const json& j) {
  const json levels = j.value("concurrency", json::array({1, 2, 4}));
  if (!levels.is_array() || levels.empty() || levels.size() > static_cast<size_t>(kMaxLevels))
    throw api::ApiError(400, "'concurrency' must be a list of 1 to 4 stream counts", "invalid_request_error",
                        "concurrency");
  std::string out;
  for (const json& n : levels) {
    if (!n.is_number_integer() || n.get<int>() < 1 || n.get<int>() > kMaxStreams)
      throw api::ApiError(400, "each 'concurrency' level must be an integer from 1 to 8", "invalid_request_error",
                          "concurrency");
    if (!out.empty()) out += ',';
    out += std::to_string(n.get<int>());
  }
  return out;
}

int bounded(const json& j, const char* name, int fallback, int most) {
  const json v = j.value(name, json(fallback));
  if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > most)
    throw api::ApiError(400, std::string("'") + name + "' must be an integer from 1 to " + std::to_string(most),
                        "invalid_request_error", name);
  return v.get<int>();
}

json status_json(BenchState& b) {
  std::lock_guard lk(b.mu);
  json out = {{"state", b.state},       {"params", b.params}, {"started", b.started},
              {"finished", b.finished}, {"error", b.error},   {"report", b.state == "done"}};
  if (!b.dir.empty()) {
    std::ifstream f(b.dir / "bench.log");
    std::string log((std::istreambuf_iterator<char>(f)), {});
    out["log"] = log.size() > 4000 ? log.substr(log.size() - 4000) : log;
  }
  return out;
}

}  // namespace

void set_bench_target(const std::string& url) {
  std::lock_guard lk(bench().mu);
  bench().target = url;
}

awaitable<> handle_bench_runs(Exchange& ex, ServerState& st) {
  BenchState& b = bench();
  if (ex.request().method == "POST") {
    json j = json::parse(ex.request().body.empty() ? "{}" : ex.request().body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw api::ApiError(400, "The body must be a JSON object");
    const std::string levels = concurrency_arg(j);
    const int requests = bounded(j, "requests", 8, kMaxRequests), tokens = bounded(j, "max_tokens", 32, kMaxTokens);
    std::lock_guard lk(b.mu);
    if (b.state == "running")
      throw api::ApiError(409, "A benchmark is running already; wait for it to finish", "invalid_request_error", "",
                          "bench_running");
    if (b.target.empty()) throw api::ApiError(503, "The server is not listening yet", "server_error");
    b.dir = std::filesystem::temp_directory_path() / ("hayate-bench-" + std::to_string(::getpid()));
    std::filesystem::remove_all(b.dir);
    std::filesystem::create_directories(b.dir);
    b.state = "running";
    b.error.clear();
    b.params = {{"concurrency", j.value("concurrency", json::array({1, 2, 4}))},
                {"requests", requests},
                {"max_tokens", tokens}};
    b.started = unix_now();
    b.finished = 0;
    const std::string key = st.config().api_keys.empty() ? "" : st.config().api_keys.front();
    std::thread(run_sweep,
                std::vector<std::string>{"--url", b.target, "-c", levels, "--requests", std::to_string(requests), "-n",
                                         std::to_string(tokens), "--timeout", "120"},
                b.dir, key)
        .detach();
    spdlog::info("bench: a sweep of {} streams, {} requests each, started from the page", levels, requests);
  }
  co_await ex.respond(200, status_json(b).dump());
}

awaitable<> handle_bench_report(Exchange& ex, ServerState&) {
  BenchState& b = bench();
  std::string html;
  {
    std::lock_guard lk(b.mu);
    if (b.state == "done") {
      std::ifstream f(b.dir / "report.html");
      html.assign((std::istreambuf_iterator<char>(f)), {});
    }
  }
  if (html.empty()) throw api::ApiError(404, "No benchmark report yet: run one first", "invalid_request_error");
  co_await ex.respond(200, std::move(html), "text/html; charset=utf-8");
}

}  // namespace hayate::server
