// The CUDA backend refuses mixture-of-experts models at load (they run on the CPU), and
// --device auto then places such a model on the CPU instead of failing. Skipped without a GPU.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "core/error.h"
#include "forward/placement.h"
#include "model/synth.h"
#include "support/test_util.h"

namespace hayate {
namespace {

TEST(CudaMoe, RefusedAtLoadWithAClearMessage) {
  HAYATE_SKIP_WITHOUT_CUDA();
  const std::string path = test::temp_path("cuda-moe.gguf");
  SynthOptions o;
  o.arch = "qwen3moe";
  o.n_embd = 128;
  o.n_layer = 1;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 256;
  o.n_expert = 4;
  std::ostringstream log;
  synth_model(o, path, log);
  const auto m = Model::load(path);
  auto cuda = make_cuda_backend(DeviceOptions{});
  try {
    cuda->prepare(*m);
    ADD_FAILURE() << "the CUDA backend accepted a mixture-of-experts model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("mixture-of-experts"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos) << e.what();
  }
  DeviceOptions automatic;
  automatic.device = "auto";
  std::ostringstream placed;
  const auto be = place_model(*m, "cpu", 2, automatic, PlacementHints{}, &placed);
  EXPECT_EQ(be->name(), "cpu") << placed.str();
}

}  // namespace
}  // namespace hayate
