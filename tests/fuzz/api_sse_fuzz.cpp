// libFuzzer target for the strict SSE reader: any bytes are accepted or end in
// hayate::Error(BadInput), and the outcome (events, [DONE], accepted or not) is the same whether
// the bytes arrive at once or split at an arbitrary point.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai.h"
#include "core/error.h"

namespace {

struct Outcome {
  std::vector<std::string> events;
  bool done = false;
  bool ok = true;
  bool operator==(const Outcome&) const = default;
};

Outcome read(std::string_view stream, size_t cut) {
  Outcome out;
  hayate::api::SseParser p;
  try {
    p.feed(stream.substr(0, cut));
    for (auto& e : p.take_events()) out.events.push_back(std::move(e));
    p.feed(stream.substr(cut));
    for (auto& e : p.take_events()) out.events.push_back(std::move(e));
    p.finish();
  } catch (const hayate::Error& e) {
    if (e.kind() != hayate::ErrorKind::BadInput) std::abort();
    // Events before the error depend on where the bytes were cut; only acceptance is compared.
    out.events.clear();
    out.ok = false;
  }
  out.done = out.ok && p.done();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = stream.empty() ? 0 : data[0] % (stream.size() + 1);
  if (!(read(stream, stream.size()) == read(stream, cut))) std::abort();
  return 0;
}
