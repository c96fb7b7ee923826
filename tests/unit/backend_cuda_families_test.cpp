// The CUDA backend does not implement what gemma3 and phi3 (LongRoPE) add to the forward pass
// (model/model.h ArchFeature): it refuses them at load, naming what it lacks, and --device auto
// runs them on the CPU instead. Skipped without a GPU; forward_families_test checks the same
// refusal with a CPU backend that lacks the features.
#include <gtest/gtest.h>

#include <sstream>

#include "backend/backend.h"
#include "backend_cuda_support.h"
#include "core/error.h"
#include "model/synth.h"
#include "support/test_util.h"

namespace hayate {
namespace {

std::unique_ptr<Model> synth(const std::string& arch) {
  SynthOptions o;
  o.arch = arch;
  o.n_embd = 64;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 96;
  o.n_ctx = 128;
  o.sliding_window = arch == "gemma3" ? 4 : 0;
  o.long_rope_original = arch == "phi3" ? 8 : 0;
  const std::string path = test::temp_path("cuda-families-" + arch + ".gguf");
  std::ostringstream log;
  synth_model(o, path, log);
  return Model::load(path);
}

TEST(CudaFamilies, RefusedAtLoadByNameAndRunOnTheCpuWithAuto) {
  HAYATE_SKIP_WITHOUT_CUDA();
  for (const std::string arch : {"gemma3", "phi3"}) {
    SCOPED_TRACE(arch);
    const auto model = synth(arch);
    DeviceOptions cuda;
    cuda.device = "cuda";
    try {
      make_backend_for(*model, "cpu", 2, cuda, nullptr);
      ADD_FAILURE() << "the CUDA backend accepted " << arch;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("backend 'cuda' does not implement"), std::string::npos) << msg;
      EXPECT_NE(msg.find(arch + " model"), std::string::npos) << msg;
      EXPECT_NE(msg.find("--device cpu"), std::string::npos) << msg;
    }
    DeviceOptions automatic;
    automatic.device = "auto";
    std::ostringstream log;
    const auto be = make_backend_for(*model, "cpu", 2, automatic, &log);
    EXPECT_EQ(be->name(), "cpu");
    EXPECT_NE(log.str().find("not using cuda"), std::string::npos) << log.str();
  }
}

}  // namespace
}  // namespace hayate
