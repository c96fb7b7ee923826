// The backends this build knows, as one table: what the CLI's --backend/--device choices, the
// server's `backend`/`device` settings and their help text are generated from, and what
// make_backend / make_backend_for pick from. Adding a backend is adding one row (registry.cpp),
// or, for a test or an embedder, one register_backend call.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"

namespace hayate {

struct BackendOptions {
  int n_threads = 0;     // host backends: worker threads (0: all cores)
  DeviceOptions device;  // device backends: memory share, graphs
};

struct BackendInfo {
  std::string name;         // "cpu", "reference", "cuda"
  std::string description;  // a few words for help text: "threaded, SIMD"
  // Host backends run on this machine's CPU and are the --backend choices; device backends
  // (on_device) are the --device choices beside auto and cpu.
  bool on_device = false;
  bool built = true;  // compiled into this build
  // Why it cannot run here ("" when it can): not built, or what it needs (a GPU) is missing.
  // May ask the driver, so help text reads `built` instead.
  std::function<std::string()> unavailable;
  std::function<std::unique_ptr<Backend>(const BackendOptions&)> make;  // not yet prepared for a model

  bool available() const { return !unavailable || unavailable().empty(); }
};

// Every registered backend, built-in ones first, in the order help text lists them.
std::vector<const BackendInfo*> backends();
const BackendInfo* find_backend(std::string_view name);  // nullptr when unknown
// Adds a row (tests, embedders). Error(BadInput) when the name is taken or the row lacks a
// name or a factory. Call before the table is read from other threads.
void register_backend(BackendInfo info);

// The --backend choices (host backends) and their help: "cpu (threaded, SIMD) or reference (...)".
std::vector<std::string> host_backend_names();
std::string host_backend_help();
// The --device choices: auto, cpu, then each device backend; the help says which are not built.
std::vector<std::string> device_choices();
std::string device_help();
// Error(BadInput) naming the choices when `device` is not one of device_choices().
void check_device(const std::string& device);

}  // namespace hayate
