// libFuzzer target for document text extraction (issue 15): untrusted uploads. The first byte
// picks the format the bytes are read as; any input must give a document with non-blank UTF-8
// text or an Error(BadInput). Any other exception, a crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "core/utf8.h"
#include "doc/document.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr const char* kNames[] = {"a.html", "a.pdf", "a.md", "a.json", "a.txt", ""};
  const char* name = kNames[data[0] % 6];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const hayate::doc::Document d = hayate::doc::extract(bytes, name);
    if (hayate::utf8::valid_prefix(d.text) != d.text.size()) std::abort();
  } catch (const hayate::Error& e) {
    if (e.kind() != hayate::ErrorKind::BadInput) std::abort();
  }
  return 0;
}
