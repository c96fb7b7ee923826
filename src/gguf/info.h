// What `hayate info` prints about a GGUF file: the header, every metadata entry and the
// tensor table with totals, as text for people or as JSON for scripts.
#pragma once

#include <ostream>

#include "gguf/gguf.h"

namespace hayate::gguf {

// Long arrays (a vocabulary) are shown as a few items and a count unless show_all_array_items.
void print_info(const File& f, std::ostream& out, bool show_all_array_items = false);

// One JSON object: {"file", "version", "alignment", "data_offset", "file_size",
// "metadata": [{"key", "type", "element_type"?, "count"?, "value"}], "tensors": [{"name",
// "type", "shape", "offset", "nbytes"}], "tensor_count", "parameter_count", "tensor_bytes"}.
// Arrays longer than max_array_items are cut (their "count" still says how long they are).
void print_info_json(const File& f, std::ostream& out, size_t max_array_items = 16);

}  // namespace hayate::gguf
