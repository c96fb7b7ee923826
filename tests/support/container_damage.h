// A compressed file must refuse every truncation and every single flipped bit with an Error,
// never a crash: the check both the container tests run on each file they make.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <vector>

#include "compress/container.h"
#include "core/error.h"

namespace hayate::test {

// `open(bytes)` is what must throw for a flipped bit (reading, or reading and decoding).
template <class Open>
void expect_damage_refused(const std::vector<uint8_t>& f, Open open) {
  for (size_t n = 0; n < f.size(); ++n)
    EXPECT_THROW(compress::read_container(std::span<const uint8_t>(f).first(n)), Error) << "cut at " << n;
  for (size_t at = 0; at < f.size(); ++at)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> g = f;
      g[at] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_THROW(open(g), Error) << "byte " << at << " bit " << bit;
    }
}

}  // namespace hayate::test
