// The HumanEval sandbox: a correct program passes, a failing one fails, and an infinite loop, a
// fork bomb, a 10 GB allocation, a network connect and a 1 GB file write are each stopped and
// reported as failed, with the next run unaffected. No timing is asserted: the wall-clock limit
// only bounds how long a test waits.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "eval/sandbox.h"

namespace hayate::eval {
namespace {

class Sandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = find_python();
    if (python_.empty()) GTEST_SKIP() << "no python3 in /usr/bin or /usr/local/bin";
    limits_.wall = std::chrono::seconds(20);
    limits_.cpu_seconds = 2;
    limits_.address_space = 1ull << 30;
    limits_.file_size = 8ull << 20;
  }
  SandboxResult run(const std::string& program) { return run_python_sandboxed(python_, program, limits_); }
  void expect_next_run_passes() {
    const SandboxResult ok = run("assert sum(range(4)) == 6\n");
    EXPECT_TRUE(ok.passed) << ok.output;
  }
  // A listener in this process that an unsandboxed program could reach: the sandboxed one must not.
  void expect_connect_blocked(bool namespace_allowed) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(fd, 4), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::string port = std::to_string(ntohs(addr.sin_port));
    limits_.network_namespace = namespace_allowed;
    const SandboxResult r = run("import socket\ns = socket.create_connection(('127.0.0.1', " + port +
                                "), timeout=3)\nprint('connected')\n");
    close(fd);
    EXPECT_FALSE(r.passed) << r.output;
    EXPECT_EQ(r.output.find("connected"), std::string::npos) << r.output;
    if (!namespace_allowed) {
      EXPECT_EQ(r.network, NetworkBlock::Seccomp);
    }
  }
  std::string python_;
  SandboxLimits limits_;
};

TEST_F(Sandbox, CorrectProgramPassesAndWrongOneFails) {
  const SandboxResult ok = run("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('fine')\n");
  EXPECT_TRUE(ok.passed) << ok.output;
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_NE(ok.output.find("fine"), std::string::npos);
  const SandboxResult bad = run("def add(a, b):\n    return a - b\nassert add(2, 3) == 5\n");
  EXPECT_FALSE(bad.passed);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("AssertionError"), std::string::npos);
}

TEST_F(Sandbox, InfiniteLoopIsStopped) {
  limits_.wall = std::chrono::seconds(4);
  const SandboxResult r = run("while True:\n    pass\n");
  EXPECT_FALSE(r.passed);
  EXPECT_TRUE(r.timed_out || r.signal == SIGXCPU || r.signal == SIGKILL) << r.signal;
  expect_next_run_passes();
}

TEST_F(Sandbox, ForkBombIsStopped) {
  limits_.wall = std::chrono::seconds(4);
  const SandboxResult r =
      run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n");
  EXPECT_FALSE(r.passed);
  expect_next_run_passes();
}

TEST_F(Sandbox, HugeAllocationFails) {
  const SandboxResult r = run("x = bytearray(10 * 1024 ** 3)\nprint('allocated')\n");
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.output.find("MemoryError"), std::string::npos) << r.output;
  expect_next_run_passes();
}

TEST_F(Sandbox, LargeFileWriteIsStopped) {
  const SandboxResult r =
      run("with open('big', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'\\0' * (1 << 20))\n");
  EXPECT_FALSE(r.passed);
  expect_next_run_passes();
}

TEST_F(Sandbox, TemporaryDirectoryIsTheCwdAndIsRemoved) {
  const SandboxResult r = run("import os\nopen('left.txt', 'w').write('x')\nprint('CWD=' + os.getcwd())\n");
  ASSERT_TRUE(r.passed) << r.output;
  const size_t at = r.output.find("CWD=");
  ASSERT_NE(at, std::string::npos);
  std::string cwd = r.output.substr(at + 4);
  cwd.erase(cwd.find_last_not_of("\r\n") + 1);
  EXPECT_NE(cwd.find("hayate-sandbox-"), std::string::npos) << cwd;
  EXPECT_FALSE(std::filesystem::exists(cwd)) << cwd;
}

TEST_F(Sandbox, NetworkConnectFailsInTheNamespaceOrUnderSeccomp) {
  expect_connect_blocked(true);
  expect_next_run_passes();
}

TEST_F(Sandbox, NetworkConnectFailsUnderTheSeccompFilter) {
  expect_connect_blocked(false);
  const SandboxResult r = run("import socket\nsocket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n");
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.output.find("PermissionError"), std::string::npos) << r.output;
  const SandboxResult unix_ok = run("import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()\n");
  EXPECT_TRUE(unix_ok.passed) << unix_ok.output;
}

TEST(SandboxSetup, MissingInterpreterIsAnError) {
  EXPECT_ANY_THROW(run_python_sandboxed("/nonexistent/python3", "pass\n", SandboxLimits{}));
}

}  // namespace
}  // namespace hayate::eval
