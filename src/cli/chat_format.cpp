#include "cli/chat_format.h"

namespace hayate::cli {

ChatFormat detect_chat_format(const gguf::File& file) {
  const std::string t = file.get_string("tokenizer.chat_template", "");
  if (t.find("<|im_start|>") != std::string::npos) return ChatFormat::ChatML;
  if (t.find("<|start_header_id|>") != std::string::npos) return ChatFormat::Llama3;
  if (t.find("[INST]") != std::string::npos) return ChatFormat::Llama2;
  return ChatFormat::Plain;
}

const char* chat_format_name(ChatFormat f) {
  switch (f) {
    case ChatFormat::ChatML:
      return "chatml";
    case ChatFormat::Llama3:
      return "llama3";
    case ChatFormat::Llama2:
      return "llama2";
    case ChatFormat::Plain:
      return "plain";
  }
  return "plain";
}

std::string render_turn(ChatFormat f, const std::string& system, const std::string& user, bool first) {
  std::string s;
  switch (f) {
    case ChatFormat::ChatML:
      if (first && !system.empty()) s += "<|im_start|>system\n" + system + "<|im_end|>\n";
      s += "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n";
      break;
    case ChatFormat::Llama3:
      if (first && !system.empty()) s += "<|start_header_id|>system<|end_header_id|>\n\n" + system + "<|eot_id|>";
      s += "<|start_header_id|>user<|end_header_id|>\n\n" + user +
           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatFormat::Llama2:
      s += "[INST] ";
      if (first && !system.empty()) s += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
      s += user + " [/INST]";
      break;
    case ChatFormat::Plain:
      if (first && !system.empty()) s += system + "\n\n";
      s += "User: " + user + "\nAssistant:";
      break;
  }
  return s;
}

}  // namespace hayate::cli
