#include "compress/container.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace hayate::compress {
namespace {

constexpr uint8_t kMagic[4] = {0x89, 'H', 'Y', 'Z'};  // 0x89: text-mode transfers break it at once
constexpr size_t kTrailer = 4;                        // CRC-32 of everything before it
constexpr uint32_t kMaxWindowTokens = uint32_t{1} << 20;

class Writer {
 public:
  void u8(uint8_t v) { out.push_back(v); }
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<uint8_t>(v));
  }
  void bytes(std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
  std::vector<uint8_t> out;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  uint8_t u8(const char* what) { return static_cast<uint8_t>(le(1, what)); }
  uint64_t le(int n, const char* what) {
    need(static_cast<size_t>(n), what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(in_[pos_++]) << (8 * i);
    return v;
  }
  uint64_t varint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      need(1, what);
      const uint8_t b = in_[pos_++];
      if (shift == 63 && b > 1) bad(std::string(what) + " does not fit in 64 bits");
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) {
        if (b == 0 && shift > 0) bad(std::string(what) + " is not in its shortest form");
        return v;
      }
    }
  }
  std::vector<uint8_t> bytes(uint64_t n, const char* what) {
    need(n, what);
    std::vector<uint8_t> b(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                           in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return b;
  }
  size_t left() const { return in_.size() - pos_; }
  [[noreturn]] void bad(const std::string& why) const {
    fail(ErrorKind::BadInput, "compressed data: " + why + " (at byte " + std::to_string(pos_) + ")");
  }

 private:
  void need(uint64_t n, const char* what) {
    if (n > left()) bad(std::string("truncated inside ") + what);
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

void write_model_params(Writer& w, const ModelParams& p) {
  w.le(p.model_id, 4);
  w.le(p.compute_id, 2);
  w.varint(p.window_tokens);
  w.u8(p.precision_bits);
  w.u8(p.lockstep);
}

ModelParams read_model_params(Reader& r) {
  ModelParams p;
  p.model_id = static_cast<uint32_t>(r.le(4, "the model fingerprint"));
  p.compute_id = static_cast<uint16_t>(r.le(2, "the compute fingerprint"));
  const uint64_t window = r.varint("the window size");
  if (window == 0 || window > kMaxWindowTokens)
    r.bad("window size " + std::to_string(window) + " is outside 1.." + std::to_string(kMaxWindowTokens));
  p.window_tokens = static_cast<uint32_t>(window);
  p.precision_bits = r.u8("the coder precision");
  if (p.precision_bits < 8 || p.precision_bits > 24)
    r.bad("coder precision " + std::to_string(p.precision_bits) + " is outside 8..24 bits");
  p.lockstep = r.u8("the lockstep width");
  return p;
}

void write_windows(Writer& w, const std::vector<Window>& windows) {
  w.varint(windows.size());
  for (const Window& win : windows) {
    w.varint(win.n_bytes);
    w.varint((static_cast<uint64_t>(win.payload.size()) << 1) | (win.stored ? 1 : 0));
    w.le(win.check, 2);
    w.bytes(win.payload);
  }
}

// Windows whose byte counts add up to `expected_bytes`.
std::vector<Window> read_windows(Reader& r, uint64_t expected_bytes) {
  const uint64_t n = r.varint("the window count");
  if (n > expected_bytes) r.bad(std::to_string(n) + " windows for " + std::to_string(expected_bytes) + " bytes");
  std::vector<Window> windows;
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; ++i) {
    Window win;
    win.n_bytes = r.varint("a window's length");
    if (win.n_bytes == 0 || win.n_bytes > expected_bytes - total)
      r.bad("window " + std::to_string(i) + " says " + std::to_string(win.n_bytes) + " bytes, but " +
            std::to_string(expected_bytes - total) + " remain of the original");
    total += win.n_bytes;
    const uint64_t size_and_flag = r.varint("a window's payload size");
    win.stored = size_and_flag & 1;
    const uint64_t size = size_and_flag >> 1;
    if (win.stored && size != win.n_bytes)
      r.bad("stored window " + std::to_string(i) + " holds " + std::to_string(size) + " bytes, not " +
            std::to_string(win.n_bytes));
    win.check = static_cast<uint16_t>(r.le(2, "a window's check"));
    win.payload = r.bytes(size, "a window's payload");
    windows.push_back(std::move(win));
  }
  if (total != expected_bytes)
    r.bad("the windows hold " + std::to_string(total) + " bytes, not the " + std::to_string(expected_bytes) +
          " the header says");
  return windows;
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::Stored:
      return "stored";
    case Method::Model:
      return "model";
    case Method::Zstd:
      return "zstd";
    case Method::Semantic:
      return "semantic";
  }
  return "unknown";
}

uint32_t crc32(std::span<const uint8_t> bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes lengths as uInt: feed large inputs in pieces.
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - at, size_t{1} << 30);
    crc = ::crc32(crc, bytes.data() + at, static_cast<uInt>(n));
    at += n;
  }
  return static_cast<uint32_t>(crc);
}

bool has_magic(std::span<const uint8_t> bytes) {
  return bytes.size() >= sizeof kMagic && std::equal(std::begin(kMagic), std::end(kMagic), bytes.begin());
}

std::vector<uint8_t> write_container(const Container& c) {
  Writer w;
  w.bytes(kMagic);
  w.u8(kFormatVersion);
  w.u8(static_cast<uint8_t>(c.method));
  w.varint(c.original_length);
  w.le(c.original_crc, 4);
  switch (c.method) {
    case Method::Stored:
    case Method::Zstd:
      w.varint(c.data.size());
      w.bytes(c.data);
      break;
    case Method::Semantic:
      w.u8(c.semantic.summary_method);
      w.varint(c.semantic.target_tokens);
      w.le(c.semantic.quality, 2);
      w.varint(c.semantic.summary_length);
      [[fallthrough]];
    case Method::Model:
      write_model_params(w, c.model);
      write_windows(w, c.windows);
      break;
  }
  w.le(crc32(w.out), 4);
  return std::move(w.out);
}

Container read_container(std::span<const uint8_t> bytes) {
  if (!has_magic(bytes)) fail(ErrorKind::BadInput, "not hayate compressed data (the first bytes are not 89 48 59 5A)");
  if (bytes.size() < sizeof kMagic + 1 + kTrailer)
    fail(ErrorKind::BadInput, "compressed data is truncated: " + std::to_string(bytes.size()) + " bytes");
  const uint8_t version = bytes[sizeof kMagic];
  if (version != kFormatVersion)
    fail(ErrorKind::Unsupported, "compressed data has format version " + std::to_string(version) +
                                     "; this build reads version " + std::to_string(kFormatVersion));
  const auto body = bytes.first(bytes.size() - kTrailer);
  uint32_t stored_crc = 0;
  for (size_t i = 0; i < kTrailer; ++i) stored_crc |= static_cast<uint32_t>(bytes[body.size() + i]) << (8 * i);
  if (crc32(body) != stored_crc)
    fail(ErrorKind::BadInput, "compressed data is damaged or truncated: its checksum does not match (" +
                                  std::to_string(bytes.size()) + " bytes)");

  Reader r(body);
  r.le(sizeof kMagic + 1, "the magic");
  Container c;
  const uint8_t method = r.u8("the method");
  if (method > static_cast<uint8_t>(Method::Semantic)) r.bad("unknown method " + std::to_string(method));
  c.method = static_cast<Method>(method);
  c.original_length = r.varint("the original length");
  if (c.original_length > kMaxOriginalBytes)
    r.bad("original length " + std::to_string(c.original_length) + " is over 1 TiB");
  c.original_crc = static_cast<uint32_t>(r.le(4, "the original's checksum"));
  switch (c.method) {
    case Method::Stored:
    case Method::Zstd: {
      const uint64_t n = r.varint("the data size");
      if (c.method == Method::Stored && n != c.original_length)
        r.bad("stored data of " + std::to_string(n) + " bytes for an original of " + std::to_string(c.original_length));
      c.data = r.bytes(n, "the data");
      break;
    }
    case Method::Semantic: {
      c.semantic.summary_method = r.u8("the summary method");
      const uint64_t target = r.varint("the reconstruction length");
      if (target > kMaxWindowTokens) r.bad("reconstruction length " + std::to_string(target) + " tokens is too long");
      c.semantic.target_tokens = static_cast<uint32_t>(target);
      c.semantic.quality = static_cast<uint16_t>(r.le(2, "the quality score"));
      if (c.semantic.quality > 10000) r.bad("quality score " + std::to_string(c.semantic.quality) + " is over 10000");
      c.semantic.summary_length = r.varint("the summary length");
      if (c.semantic.summary_length > kMaxOriginalBytes) r.bad("the summary length is over 1 TiB");
      c.model = read_model_params(r);
      c.windows = read_windows(r, c.semantic.summary_length);
      break;
    }
    case Method::Model:
      c.model = read_model_params(r);
      c.windows = read_windows(r, c.original_length);
      break;
  }
  if (r.left() != 0) r.bad(std::to_string(r.left()) + " bytes follow the last field");
  return c;
}

}  // namespace hayate::compress
