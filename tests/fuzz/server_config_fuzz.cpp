// libFuzzer target for the server's configuration file (issue 22): any TOML text must load into a
// ServerConfig or end in hayate::Error(BadInput) naming where; a configuration that loads must
// survive --print-config's round trip (printed, loaded again, printed the same). A crash, another
// exception or a round trip that changes a value is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "server/config.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hayate;
  const std::string text(reinterpret_cast<const char*>(data), size);
  server::ServerConfig config;
  try {
    server::apply_toml_text(config, text, "fuzz.toml");
  } catch (const Error& e) {
    require(e.kind() == ErrorKind::BadInput);
    return 0;
  }
  config.api_keys.clear();  // secrets are not printed, so they cannot come back
  const std::string printed = server::to_toml(config);
  server::ServerConfig again;
  try {
    server::apply_toml_text(again, printed, "printed.toml");
  } catch (const Error&) {
    std::abort();  // what --print-config writes must load
  }
  require(server::to_toml(again) == printed);
  return 0;
}
