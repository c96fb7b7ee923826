// Real services for the tests that need them (issues 15, 16): a redis-server or a PostgreSQL
// cluster of the test's own on a free loopback port, stopped when the object goes. A missing
// binary is a clean skip with the reason; scripts/setup.sh installs them, so CI never skips.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace hayate::test {

// A port nothing listens on now (the kernel's choice for a socket bound to port 0).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// fork + exec with stdout and stderr to `log`; the child's pid. With `as` (a passwd entry), the
// child runs as that user (PostgreSQL refuses to run as root).
inline pid_t spawn(std::vector<std::string> argv, const std::string& log, const passwd* as = nullptr) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (as && (::setgroups(0, nullptr) != 0 || ::setgid(as->pw_gid) != 0 || ::setuid(as->pw_uid) != 0)) ::_exit(126);
    std::vector<char*> cargs;
    for (std::string& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    ::execvp(cargs[0], cargs.data());
    ::_exit(127);
  }
  return pid;
}

inline std::string find_binary(const std::vector<std::string>& candidates) {
  for (const std::string& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) return c;
  return "";
}

class RedisServer {
 public:
  // GTEST_SKIP in the caller when binary().empty().
  static std::string binary() { return find_binary({"/usr/bin/redis-server", "/usr/local/bin/redis-server"}); }

  RedisServer() {
    dir_ = temp_path("redis." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    start(free_port());
  }
  ~RedisServer() { stop(); }

  void start(int port) {
    port_ = port;
    pid_ = spawn({binary(), "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--dir", dir_},
                 dir_ + "/redis.log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!port_accepts(port_)) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("redis-server did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A PostgreSQL cluster of the test's own: initdb into a temporary directory, the postmaster on a
// free loopback port (socket in that directory too), trust authentication for the user "hayate",
// fsync off. As root (CI's containers), the cluster belongs to "nobody". Stopped and removed after.
class PostgresServer {
 public:
  // GTEST_SKIP in the caller when bin_dir().empty().
  static std::string bin_dir() {
    for (const char* v : {"17", "16", "15", "14", "13"}) {
      const std::string d = std::string("/usr/lib/postgresql/") + v + "/bin";
      if (::access((d + "/initdb").c_str(), X_OK) == 0) return d;
    }
    return "";
  }

  PostgresServer() {
    static int serial = 0;
    // Not temp_path (it adds the test's name): the socket's path must stay under 108 bytes.
    dir_ = ::testing::TempDir() + "hayate-pg." + std::to_string(::getpid()) + "." + std::to_string(serial++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (::geteuid() == 0) {
      const passwd* nobody = ::getpwnam("nobody");
      if (!nobody || ::chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0)
        throw std::runtime_error("postgres: cannot give " + dir_ + " to the user nobody");
      user_.pw_uid = nobody->pw_uid;  // only the ids: getpwnam's buffer is reused by the next call
      user_.pw_gid = nobody->pw_gid;
      as_ = &user_;
    }
    const std::string bin = bin_dir();
    if (run({bin + "/initdb", "-D", dir_ + "/data", "-U", "hayate", "-A", "trust", "-E", "UTF8", "--locale=C",
             "--no-sync"}) != 0)
      throw std::runtime_error("initdb failed: see " + dir_ + "/postgres.log");
    port_ = free_port();
    pid_ = spawn({bin + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_, "-c",
                  "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"},
                 dir_ + "/postgres.log", as_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (psql("postgres", "SELECT 1") != 0) {
      if (std::chrono::steady_clock::now() > deadline || ::waitpid(pid_, nullptr, WNOHANG) == pid_)
        throw std::runtime_error("postgres did not start: see " + dir_ + "/postgres.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~PostgresServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGQUIT);  // immediate shutdown: the postmaster ends its backends, then itself
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // A database of its own for each test that wants a clean one.
  std::string create_database(const std::string& name) {
    if (psql("postgres", "CREATE DATABASE " + name) != 0)
      throw std::runtime_error("postgres: CREATE DATABASE " + name + " failed: see " + dir_ + "/postgres.log");
    return url(name);
  }
  std::string url(const std::string& database = "postgres") const {
    return "postgresql://hayate@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

 private:
  int run(std::vector<std::string> argv) const {
    const pid_t pid = spawn(std::move(argv), dir_ + "/postgres.log", as_);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  int psql(const std::string& database, const std::string& sql) const {
    return run({bin_dir() + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                std::to_string(port_), "-U", "hayate", "-d", database, "-c", sql});
  }

  std::string dir_;
  passwd user_{};
  const passwd* as_ = nullptr;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hayate::test
