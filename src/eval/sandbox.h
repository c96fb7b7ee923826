// A throwaway process for untrusted generated code (HumanEval's completions): python3 runs one
// program in a fresh temporary directory with CPU-time, address-space, file-size and process-count
// limits, no network, and a wall-clock limit after which its whole process group is killed.
//
// No network: a new network namespace (only a down loopback) when unshare(CLONE_NEWNET) is
// permitted (root or CAP_SYS_ADMIN); otherwise a seccomp filter that makes socket() fail with
// EACCES for AF_INET and AF_INET6. Run as root, the child also drops to a uid of its own (so
// RLIMIT_NPROC, which root ignores, holds, and its leftovers can all be killed); docs/eval.md says
// what the sandbox does not stop.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hayate::eval {

struct SandboxLimits {
  std::chrono::milliseconds wall{10000};
  int cpu_seconds = 5;
  uint64_t address_space = 1ull << 30;  // bytes
  uint64_t file_size = 16ull << 20;     // bytes, per file
  int processes = 32;                   // beyond those the uid already runs
  bool network_namespace = true;        // false: the seccomp filter even where a namespace is permitted
};

enum class NetworkBlock { Namespace, Seccomp };
const char* to_string(NetworkBlock b);

struct SandboxResult {
  bool passed = false;     // exit status 0, not killed
  bool timed_out = false;  // killed at the wall-clock limit
  int exit_code = -1;      // -1 when killed by a signal
  int signal = 0;
  NetworkBlock network = NetworkBlock::Namespace;
  std::string output;  // stdout and stderr together, the first 4 KiB
};

// The python3 the sandbox runs: $HAYATE_PYTHON, else the first of /usr/bin/python3,
// /usr/local/bin/python3 that exists (a system path: a dropped uid cannot read a home directory).
// "" when none.
std::string find_python();

// Runs `python` on `program` (written to a fresh directory under $TMPDIR or /tmp, removed after).
// Thread-safe. Throws Error(Internal) only when the sandbox itself cannot be set up.
SandboxResult run_python_sandboxed(const std::string& python, const std::string& program, const SandboxLimits& limits);

}  // namespace hayate::eval
