#include "convert/sentencepiece_model.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace hayate::convert {

namespace {

// Protobuf wire format: each field is a varint key (field number << 3 | wire type), then a
// varint (type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5).
class WireReader {
 public:
  WireReader(std::span<const uint8_t> bytes, const std::string& what) : p_(bytes.data()), end_(p_ + bytes.size()), what_(what) {}

  bool done() const { return p_ == end_; }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) bad("a varint runs past the end");
      const uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    bad("a varint is longer than 10 bytes");
  }

  std::span<const uint8_t> bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) bad("a field runs past the end");
    std::span<const uint8_t> s(p_, static_cast<size_t>(n));
    p_ += n;
    return s;
  }

  // Skips a field's payload of the given wire type.
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); return;
      case 1: bytes(8); return;
      case 2: bytes(varint()); return;
      case 5: bytes(4); return;
      default: bad("wire type " + std::to_string(wire_type) + " is not one protobuf writes");
    }
  }

  [[noreturn]] void bad(const std::string& why) const {
    fail(ErrorKind::BadInput, what_ + ": not a SentencePiece model: " + why);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const std::string& what_;
};

SpPiece parse_piece(std::span<const uint8_t> bytes, const std::string& what) {
  SpPiece piece;
  WireReader r(bytes, what);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint64_t field = key >> 3;
    const auto wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == 2) {
      const auto s = r.bytes(r.varint());
      piece.piece.assign(reinterpret_cast<const char*>(s.data()), s.size());
    } else if (field == 2 && wire == 5) {
      const auto s = r.bytes(4);
      std::memcpy(&piece.score, s.data(), 4);  // little-endian float, as on every host we build for
    } else if (field == 3 && wire == 0) {
      piece.type = static_cast<int32_t>(r.varint());
    } else {
      r.skip(wire);
    }
  }
  return piece;
}

}  // namespace

std::vector<SpPiece> parse_sentencepiece_model(std::span<const uint8_t> bytes, const std::string& what) {
  std::vector<SpPiece> pieces;
  WireReader r(bytes, what);
  while (!r.done()) {
    const uint64_t key = r.varint();
    const auto wire = static_cast<uint32_t>(key & 7);
    if ((key >> 3) == 1 && wire == 2) {
      pieces.push_back(parse_piece(r.bytes(r.varint()), what));
    } else {
      r.skip(wire);  // trainer_spec, normalizer_spec, … are not needed
    }
  }
  if (pieces.empty()) r.bad("it has no pieces");
  return pieces;
}

std::vector<SpPiece> read_sentencepiece_model(const std::string& path) {
  const MappedFile file(path);
  return parse_sentencepiece_model(file.bytes(), path);
}

}  // namespace hayate::convert
