// The sandboxed python3 run (sandbox.h). Everything the child needs is prepared before fork():
// between fork and exec it makes system calls only, since the parent may have other threads.
#include "eval/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/error.h"

namespace hayate::eval {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "the sandbox's seccomp filter knows x86-64 and AArch64 only"
#endif

// socket(AF_INET | AF_INET6, ...) fails with EACCES; a system call of another ABI (i386, x32),
// which could reach socket() under another number, kills the process.
std::vector<sock_filter> network_filter() {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000u, 0, 1),  // x32 system-call numbers
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(SYS_socket), 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
  };
}

// A uid no account uses, one per run, so RLIMIT_NPROC counts only this run's processes and
// kill(-1) from that uid reaches all of them and nothing else.
uid_t fresh_uid() {
  static std::atomic<uint32_t> counter{0};
  return static_cast<uid_t>(1'500'000'000u + (static_cast<uint32_t>(getpid()) % 100'000u) * 1000u +
                            counter.fetch_add(1) % 1000u);
}

// The processes this uid runs now (without root, RLIMIT_NPROC counts them all).
int processes_of(uid_t uid) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(e.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("Uid:", 0) == 0) {
        n += std::strtoul(line.c_str() + 4, nullptr, 10) == uid;
        break;
      }
  }
  return n;
}

// Kills every process of `uid` from a child that takes that uid (kill(-1) signals all the
// caller's uid may signal); twice, for a process that forked while the first pass ran.
void kill_uid(uid_t uid) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgid(uid) != 0 || setuid(uid) != 0) _exit(1);
    kill(-1, SIGKILL);
    kill(-1, SIGKILL);
    _exit(0);
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
}

[[noreturn]] void child_fail(int status_fd, char what) {
  const char msg[2] = {what, static_cast<char>(errno)};
  (void)!write(status_fd, msg, 2);
  _exit(127);
}

}  // namespace

const char* to_string(NetworkBlock b) { return b == NetworkBlock::Namespace ? "netns" : "seccomp"; }

std::string find_python() {
  if (const char* p = std::getenv("HAYATE_PYTHON"); p && *p) return p;
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

SandboxResult run_python_sandboxed(const std::string& python, const std::string& program, const SandboxLimits& limits) {
  namespace fs = std::filesystem;
  std::string dir_template = (fs::temp_directory_path() / "hayate-sandbox-XXXXXX").string();
  if (!mkdtemp(dir_template.data()))
    fail(ErrorKind::Internal, "sandbox: cannot make a temporary directory: " + std::string(std::strerror(errno)));
  const std::string dir = dir_template;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_dir{dir};
  const std::string script = dir + "/program.py";
  {
    std::ofstream f(script, std::ios::binary);
    f << program;
    if (!f) fail(ErrorKind::Internal, "sandbox: cannot write " + script);
  }

  const bool root = geteuid() == 0;
  const uid_t uid = root ? fresh_uid() : geteuid();
  if (root && (chown(dir.c_str(), uid, uid) != 0 || chown(script.c_str(), uid, uid) != 0))
    fail(ErrorKind::Internal, "sandbox: cannot hand " + dir + " to uid " + std::to_string(uid));
  const rlim_t nproc = static_cast<rlim_t>(limits.processes) + (root ? 0 : processes_of(uid));

  const std::string home = "HOME=" + dir, tmp = "TMPDIR=" + dir;
  const char* argv[] = {python.c_str(), "-I", "-B", script.c_str(), nullptr};
  const char* envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONHASHSEED=0", home.c_str(), tmp.c_str(), nullptr};
  std::vector<sock_filter> filter = network_filter();
  const sock_fprog fprog{static_cast<unsigned short>(filter.size()), filter.data()};
  const rlimit cpu{static_cast<rlim_t>(limits.cpu_seconds), static_cast<rlim_t>(limits.cpu_seconds) + 1};
  const rlimit as{limits.address_space, limits.address_space}, fsize{limits.file_size, limits.file_size};
  const rlimit procs{nproc, nproc}, none{0, 0};

  int out[2], status[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC) != 0)
    fail(ErrorKind::Internal, "sandbox: pipe: " + std::string(std::strerror(errno)));
  const pid_t pid = fork();
  if (pid < 0) fail(ErrorKind::Internal, "sandbox: fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    const int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) child_fail(status[1], 'd');
    const bool netns = limits.network_namespace && unshare(CLONE_NEWNET) == 0;
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_AS, &as) != 0 || setrlimit(RLIMIT_FSIZE, &fsize) != 0 ||
        setrlimit(RLIMIT_NPROC, &procs) != 0 || setrlimit(RLIMIT_CORE, &none) != 0)
      child_fail(status[1], 'r');
    if (root && (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0)) child_fail(status[1], 'u');
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(status[1], 'p');
    if (!netns && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) child_fail(status[1], 's');
    if (chdir(dir.c_str()) != 0) child_fail(status[1], 'c');
    const char method = netns ? 'n' : 's';
    (void)!write(status[1], &method, 1);
    execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    child_fail(status[1], 'x');
  }
  setpgid(pid, pid);  // also in the parent: the kill below must not race the child's own call
  close(out[1]);
  close(status[1]);

  SandboxResult r;
  char report[3] = {};
  ssize_t got = 0;
  for (ssize_t n; got < 3 && (n = read(status[0], report + got, static_cast<size_t>(3 - got))) != 0;)
    if (n > 0)
      got += n;
    else if (errno != EINTR)
      break;
  close(status[0]);
  r.network = report[0] == 'n' ? NetworkBlock::Namespace : NetworkBlock::Seccomp;
  const bool setup_failed = got >= 2 && report[0] != 'n' && report[0] != 's';
  const bool exec_failed = got >= 3 && report[1] == 'x';

  const auto deadline = std::chrono::steady_clock::now() + limits.wall;
  int wstatus = 0;
  bool reaped = false;
  char buf[4096];
  bool readable = true;  // until every writer is gone; then only the exit status is awaited
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    if (!readable) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (poll(&p, 1, 20) > 0) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0 && r.output.size() < 4096) r.output.append(buf, static_cast<size_t>(n));
      if (n == 0) readable = false;
    }
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      reaped = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      break;
    }
  }
  kill(-pid, SIGKILL);  // the group: leftovers of a finished run, or the whole run at the deadline
  if (!reaped) waitpid(pid, &wstatus, 0);
  if (root) kill_uid(uid);
  close(out[0]);
  if (r.output.size() > 4096) r.output.resize(4096);
  // The same message on every run: tracebacks name the program without its throwaway directory.
  for (size_t at; (at = r.output.find(dir + "/")) != std::string::npos;) r.output.erase(at, dir.size() + 1);

  if (setup_failed || exec_failed) {
    const char what = setup_failed ? report[0] : report[1];
    const int err = static_cast<unsigned char>(setup_failed ? report[1] : report[2]);
    fail(ErrorKind::Internal, std::string("sandbox: the child could not ") +
                                  (what == 'x'   ? "run " + python
                                   : what == 'r' ? std::string("set its resource limits")
                                   : what == 'u' ? std::string("drop to uid ") + std::to_string(uid)
                                   : what == 's' ? std::string("install its seccomp filter")
                                                 : std::string("set up its files")) +
                                  ": " + std::strerror(err));
  }
  if (WIFEXITED(wstatus)) r.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) r.signal = WTERMSIG(wstatus);
  r.passed = !r.timed_out && WIFEXITED(wstatus) && r.exit_code == 0;
  return r;
}

}  // namespace hayate::eval
