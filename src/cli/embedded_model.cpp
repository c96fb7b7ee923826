#include "cli/embedded_model.h"

// HAYATE_DEMO_GGUF (src/CMakeLists.txt) is the absolute path of the file. Page alignment keeps
// the tensor data as aligned as in a memory-mapped file.
asm(".pushsection .rodata.hayate_demo_gguf, \"a\", @progbits\n"
    ".balign 4096\n"
    ".globl hayate_demo_gguf_begin\n.hidden hayate_demo_gguf_begin\n"
    ".globl hayate_demo_gguf_end\n.hidden hayate_demo_gguf_end\n"
    "hayate_demo_gguf_begin:\n"
    ".incbin \"" HAYATE_DEMO_GGUF
    "\"\n"
    "hayate_demo_gguf_end:\n"
    ".popsection\n");

extern "C" const uint8_t hayate_demo_gguf_begin[];
extern "C" const uint8_t hayate_demo_gguf_end[];

namespace hayate::cli {

std::span<const uint8_t> embedded_model() {
  return {hayate_demo_gguf_begin, static_cast<size_t>(hayate_demo_gguf_end - hayate_demo_gguf_begin)};
}

}  // namespace hayate::cli
