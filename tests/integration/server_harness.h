// Runs the real `hayate serve` for the server tests: a small synthetic model (made once per test
// program by `hayate synth`), the server on a free port (--port 0; the port is read from its
// "listening on" line), ready once /health answers 200, stopped with SIGTERM.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/test_util.h"

namespace hayate::test {

inline const std::string kHayate = HAYATE_BIN;

// "a.b.0.c" in a JSON response (array elements by index; an object key may itself hold dots, as
// GGUF keys in Ollama's model_info do: the shortest key that exists wins); nullptr when absent.
inline const nlohmann::json* json_at_path(const nlohmann::json& root, const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  const nlohmann::json* cur = &root;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (cur->is_array()) {
      const size_t k = std::stoul(parts[i]);
      if (k >= cur->size()) return nullptr;
      cur = &(*cur)[k];
      continue;
    }
    if (!cur->is_object()) return nullptr;
    std::string key = parts[i];
    while (!cur->contains(key) && i + 1 < parts.size()) key += "." + parts[++i];
    if (!cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
  }
  return cur;
}

// The built-in byte tokenizer (one token per byte, ChatML specials), so prompt sizes are exact.
inline const std::string& tiny_model() {
  static const std::string path = [] {
    const std::string p = ::testing::TempDir() + "/hayate-server-tiny-" + std::to_string(::getpid()) + ".gguf";
    const auto r =
        run_command(kHayate + " synth -o " + p + " --n-embd 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("hayate synth failed: " + r.output);
    return p;
  }();
  return path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A plain socket connected to the server on 127.0.0.1 (-1 on failure), for tests that send bytes
// a real client would not; rcvbuf > 0 sets SO_RCVBUF before connecting, so the advertised window
// is that small from the start.
inline int connect_loopback(int port, int rcvbuf = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class ServerProcess {
 public:
  // Starts `hayate serve -m MODEL --port 0 ARGS...` with extra environment variables (without
  // -m MODEL when `tiny` is false).
  // `command` "gateway" runs `hayate gateway` instead (no model). A "--port" in ARGS replaces
  // "--port 0" (a server restarted on its old port).
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::pair<std::string, std::string>> env = {},
                         bool wait_ready = true, bool tiny = true, const std::string& command = "serve") {
    static int counter = 0;
    log_path_ =
        ::testing::TempDir() + "/hayate-serve-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".log";
    // Emptied here, not only by the child's O_TRUNC: a log left by an earlier process of the same
    // pid would otherwise give wait_ready() that server's port if it reads before the child opens.
    std::ofstream(log_path_, std::ios::trunc).flush();
    std::vector<std::string> argv = {kHayate, command};
    if (std::find(args.begin(), args.end(), "--port") == args.end()) argv.insert(argv.end(), {"--port", "0"});
    if (tiny) argv.insert(argv.end(), {"-m", tiny_model()});
    argv.insert(argv.end(), args.begin(), args.end());
    // A TLS server (a self-signed certificate, its own CA): the harness's requests go over TLS.
    if (const auto at = std::find(args.begin(), args.end(), "--tls-cert"); at != args.end() && at + 1 != args.end())
      ca_file_ = *(at + 1);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> cargs;
      for (std::string& a : argv) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      ::execv(cargs[0], cargs.data());
      ::_exit(127);
    }
    if (wait_ready) this->wait_ready();
  }

  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // The bound port, then /health 200; fails the test (with the log) after 30 s.
  void wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string listening = "listening on 127.0.0.1:";
    while (port_ == 0) {
      const std::string log = read_file(log_path_);
      const size_t at = log.find(listening);
      if (at != std::string::npos && log.find('\n', at) != std::string::npos)  // the whole line
        port_ = std::atoi(log.c_str() + at + listening.size());
      if (port_ == 0 && (std::chrono::steady_clock::now() > deadline || exited()))
        throw std::runtime_error("the server did not start:\n" + log);
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::string last;  // the last health check's status or error, for the message below
    for (;;) {
      try {
        const int status = http_get(port_, "/health", {}, ca_file_).status;
        if (status == 200) return;
        last = "status " + std::to_string(status);
      } catch (const std::exception& e) {
        last = e.what();
      }
      if (std::chrono::steady_clock::now() > deadline || exited())
        throw std::runtime_error(std::string("the server never became healthy (") +
                                 (exited_ ? "exited with status " + std::to_string(exit_code_) : "still running") +
                                 "; last check: " + last + "):\n" + log());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& ca_file() const { return ca_file_; }  // empty: plain HTTP
  std::string log() const { return read_file(log_path_); }

  void signal(int sig) { ::kill(pid_, sig); }

  // Waits for the process to end (up to `timeout`); its exit code, or nullopt if it did not end.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited()) {
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
  }

  // SIGTERM, then the exit code (nullopt when it did not stop in 30 s).
  std::optional<int> stop() {
    signal(SIGTERM);
    return wait_exit(std::chrono::seconds(30));
  }

  bool exited() {
    if (exited_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exited_;
  }

  // The samples of /metrics: "name{labels}" -> value.
  std::map<std::string, double> metrics() const {
    std::map<std::string, double> out;
    std::istringstream in(http_get(port_, "/metrics", {}, ca_file_).body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      const size_t space = line.rfind(' ');
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
  std::string ca_file_;
  bool exited_ = false;
  int exit_code_ = -1;
};

// ChatML as the built-in tokenizer's template renders one user message.
inline std::string chatml_prompt(const std::string& user) {
  return "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n";
}

// The token count `hayate tokenize` gives for a text (no BOS/EOS added unless add_special).
inline size_t token_count(const std::string& model, const std::string& text, bool add_special = false) {
  const std::string path = temp_path("tokenize-input.txt");
  std::ofstream(path, std::ios::binary) << text;
  const auto r =
      run_command(kHayate + " tokenize -m " + model + (add_special ? " --add-special" : "") + " --stdin < " + path);
  if (r.exit_code != 0) throw std::runtime_error("hayate tokenize failed");
  size_t n = 0;
  bool in_number = false;
  for (char c : r.output) {
    const bool digit = std::isdigit(static_cast<unsigned char>(c)) != 0;
    n += digit && !in_number;
    in_number = digit;
  }
  return n;
}

}  // namespace hayate::test
