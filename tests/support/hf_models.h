// Where the Hugging Face reference folders (tools/reference) are for the tests that read them.
#pragma once

#include <cstdlib>
#include <filesystem>

namespace hayate::test {

// $HAYATE_HF_MODELS, else tests/data/hf.
inline std::filesystem::path hf_models_root() {
  const char* env = std::getenv("HAYATE_HF_MODELS");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(HAYATE_TESTDATA) / "hf";
}

}  // namespace hayate::test
