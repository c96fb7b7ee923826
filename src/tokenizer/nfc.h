// Unicode Normalization Form C, for tokenizers whose tokenizer.json normalizes with NFC (Qwen):
// "e" + U+0301 becomes "é" before the pre-tokenizer sees it, as Hugging Face does.
#pragma once

#include <string>
#include <string_view>

namespace hayate {

// The NFC form of `text`. Bytes that are not valid UTF-8 pass through unchanged and nothing
// composes across them. Text without combining characters comes back as it was.
std::string to_nfc(std::string_view text);

}  // namespace hayate
