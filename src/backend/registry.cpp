// The built-in rows of the backend table, and what is generated from it.
#include "backend/registry.h"

#include <algorithm>
#include <deque>

#include "backend/cpu/cpu_backends.h"
#include "core/error.h"

namespace hayate {
namespace {

std::deque<BackendInfo> builtin_table() {
  std::deque<BackendInfo> t;
  t.push_back({"cpu", "threaded, SIMD", false, true, nullptr,
               [](const BackendOptions& o) { return make_cpu_backend(o.n_threads); }});
  t.push_back({"reference", "plain fp32 oracle, one thread", false, true, nullptr,
               [](const BackendOptions&) { return make_reference_backend(); }});
  t.push_back({"cuda", "NVIDIA GPU", true, cuda_built(),
               []() -> std::string {
                 if (!cuda_built())
                   return "this build has no CUDA backend (nvcc was not found when it was configured, or "
                          "-DHAYATE_CUDA=OFF)";
                 return cuda_device_count() > 0 ? "" : "no CUDA device is visible";
               },
               [](const BackendOptions& o) { return make_cuda_backend(o.device); }});
  return t;
}

// A deque: rows keep their addresses when a row is registered.
std::deque<BackendInfo>& table() {
  static std::deque<BackendInfo> t = builtin_table();
  return t;
}

// "a, b or c"
std::string join_choices(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
  return out;
}

}  // namespace

std::vector<const BackendInfo*> backends() {
  std::vector<const BackendInfo*> out;
  for (const BackendInfo& b : table()) out.push_back(&b);
  return out;
}

const BackendInfo* find_backend(std::string_view name) {
  for (const BackendInfo& b : table())
    if (b.name == name) return &b;
  return nullptr;
}

void register_backend(BackendInfo info) {
  if (info.name.empty() || !info.make)
    fail(ErrorKind::BadInput, "register_backend: a backend needs a name and a factory");
  if (info.name == "auto" || find_backend(info.name))
    fail(ErrorKind::BadInput, "register_backend: the name '" + info.name + "' is taken");
  table().push_back(std::move(info));
}

std::vector<std::string> host_backend_names() {
  std::vector<std::string> out;
  for (const BackendInfo& b : table())
    if (!b.on_device) out.push_back(b.name);
  return out;
}

std::string host_backend_help() {
  std::vector<std::string> items;
  for (const BackendInfo& b : table())
    if (!b.on_device) items.push_back(b.name + " (" + b.description + ")");
  return join_choices(items);
}

std::vector<std::string> device_choices() {
  std::vector<std::string> out = {"auto", "cpu"};
  for (const BackendInfo& b : table())
    if (b.on_device) out.push_back(b.name);
  return out;
}

std::string device_help() {
  std::vector<std::string> items = {"auto (a device backend when one is present and the model fits, else the CPU)",
                                    "cpu (the --backend)"};
  for (const BackendInfo& b : table())
    if (b.on_device) items.push_back(b.name + " (" + b.description + (b.built ? "" : "; not in this build") + ")");
  return join_choices(items);
}

void check_device(const std::string& device) {
  const std::vector<std::string> choices = device_choices();
  if (std::find(choices.begin(), choices.end(), device) == choices.end())
    fail(ErrorKind::BadInput, "unknown device '" + device + "' (choose " + join_choices(choices) + ")");
}

std::unique_ptr<Backend> make_backend(const std::string& name, int n_threads) {
  const BackendInfo* b = find_backend(name);
  if (!b) {
    std::vector<std::string> names;
    for (const BackendInfo& row : table()) names.push_back(row.name);
    fail(ErrorKind::BadInput, "unknown backend '" + name + "' (choose " + join_choices(names) + ")");
  }
  return b->make(BackendOptions{n_threads, DeviceOptions{}});
}

}  // namespace hayate
