// Turn formatting for `hayate chat` until the Jinja template interpreter (serving issue) exists:
// the format is recognised from the model's own tokenizer.chat_template, and models whose
// template is not one of these fall back to a plain "User:/Assistant:" transcript.
#pragma once

#include <string>

#include "gguf/gguf.h"

namespace hayate::cli {

enum class ChatFormat { ChatML, Llama3, Llama2, Plain };

ChatFormat detect_chat_format(const gguf::File& file);
const char* chat_format_name(ChatFormat f);
// The text of one user turn followed by the assistant's generation prompt.
std::string render_turn(ChatFormat f, const std::string& system, const std::string& user, bool first);

}  // namespace hayate::cli
