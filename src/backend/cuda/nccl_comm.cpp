// The NCCL group: one communicator per GPU, made together by ncclCommInitAll in this process
// (the ranks are threads), libnccl loaded with dlopen the first time a group is made, so a
// machine without NCCL still runs hayate on one GPU. Collectives go on the rank backend's stream
// through CudaBackend::on_stream, in order with its kernels and inside its step graphs.
#include <nccl.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "backend/comm.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/dl_library.h"
#include "core/error.h"

namespace hayate {
namespace {

using cuda::open_library;
using cuda::resolve;

struct NcclApi {
  decltype(&ncclCommInitAll) init_all;
  decltype(&ncclCommDestroy) destroy;
  decltype(&ncclCommAbort) abort;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclSend) send;
  decltype(&ncclRecv) recv;
  decltype(&ncclGroupStart) group_start;
  decltype(&ncclGroupEnd) group_end;
  decltype(&ncclGetErrorString) error_string;
};

NcclApi load() {
  void* lib = open_library("libnccl.so." + std::to_string(NCCL_MAJOR), "--tensor-parallel",
                           "is NCCL installed, and the CUDA toolkit's lib directory on the library path?");
  NcclApi api{};
  resolve(lib, "NCCL", "ncclCommInitAll", &api.init_all);
  resolve(lib, "NCCL", "ncclCommDestroy", &api.destroy);
  resolve(lib, "NCCL", "ncclCommAbort", &api.abort);
  resolve(lib, "NCCL", "ncclAllReduce", &api.all_reduce);
  resolve(lib, "NCCL", "ncclSend", &api.send);
  resolve(lib, "NCCL", "ncclRecv", &api.recv);
  resolve(lib, "NCCL", "ncclGroupStart", &api.group_start);
  resolve(lib, "NCCL", "ncclGroupEnd", &api.group_end);
  resolve(lib, "NCCL", "ncclGetErrorString", &api.error_string);
  return api;  // the library stays loaded for the process
}

const NcclApi& nccl() {
  static const NcclApi api = load();
  return api;
}

void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail(ErrorKind::Internal, std::string("NCCL ") + what + ": " + nccl().error_string(r));
}

// What the ranks share: every communicator, so that a failing rank can abort them all (a rank
// whose peer never arrives would otherwise wait on its stream forever).
struct NcclGroup {
  std::vector<ncclComm_t> comms;
  std::mutex m;
  bool aborted = false;
  ~NcclGroup() {
    if (aborted) return;  // ncclCommAbort freed them
    for (ncclComm_t c : comms) (void)nccl().destroy(c);
  }
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<NcclGroup> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(g_->comms.size()); }
  void attach(Backend& backend) override {
    be_ = dynamic_cast<cuda::CudaBackend*>(&backend);
    if (!be_)
      fail(ErrorKind::Internal, "tensor parallel over NCCL: rank " + std::to_string(rank_) + " runs backend '" +
                                    backend.name() + "', not a CUDA backend");
  }

  void all_reduce_sum(Tensor x) override {
    const auto count = static_cast<size_t>(x.rows * x.cols);
    ncclComm_t comm = live();
    be().on_stream("nccl all-reduce", x.data, static_cast<int64_t>(count), [=](cudaStream_t s) {
      check(nccl().all_reduce(x.data, x.data, count, ncclFloat, ncclSum, comm, s), "all-reduce");
    });
  }

  // Rank 0 receives each part into scratch, then copies it into its columns of `whole`.
  void gather_cols(Tensor part, Tensor whole, std::span<const int64_t> offsets) override {
    const int n = size();
    if (offsets.size() != static_cast<size_t>(n) + 1 || part.cols != offsets[rank_ + 1] - offsets[rank_])
      fail(ErrorKind::Internal, "tensor parallel: gather_cols' offsets do not match the ranks' parts");
    ncclComm_t comm = live();
    const int64_t rows = part.rows;
    if (rank_ != 0) {
      be().on_stream("nccl send", part.data, rows * part.cols, [=](cudaStream_t s) {
        check(nccl().send(part.data, static_cast<size_t>(rows * part.cols), ncclFloat, 0, comm, s), "send");
      });
      return;
    }
    std::vector<Tensor> staged(static_cast<size_t>(n));
    staged[0] = part;
    for (int r = 1; r < n; ++r) staged[static_cast<size_t>(r)] = be().alloc(rows, offsets[r + 1] - offsets[r]);
    be().on_stream("nccl gather", whole.data, rows * whole.cols, [=](cudaStream_t s) {
      check(nccl().group_start(), "group start");
      for (int r = 1; r < n; ++r) {
        const Tensor& t = staged[static_cast<size_t>(r)];
        check(nccl().recv(t.data, static_cast<size_t>(t.rows * t.cols), ncclFloat, r, comm, s), "recv");
      }
      check(nccl().group_end(), "group end");
      for (int r = 0; r < n; ++r) {
        const Tensor& t = staged[static_cast<size_t>(r)];
        if (t.cols == 0 || rows == 0) continue;
        const cudaError_t e =
            cudaMemcpy2DAsync(whole.data + offsets[r], static_cast<size_t>(whole.cols) * sizeof(float), t.data,
                              static_cast<size_t>(t.cols) * sizeof(float), static_cast<size_t>(t.cols) * sizeof(float),
                              static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, s);
        if (e != cudaSuccess)
          fail(ErrorKind::Internal, std::string("cudaMemcpy2DAsync (gather of logits): ") + cudaGetErrorString(e));
      }
    });
  }

  void barrier() override {
    Tensor one = be().alloc(1, 1);
    float v = 0;
    be().from_host(&v, one);
    all_reduce_sum(one);
    be().to_host(one, &v);  // waits for the stream, hence for every rank's part of the sum
  }

  void abort() override {
    std::lock_guard lock(g_->m);
    if (g_->aborted) return;
    g_->aborted = true;
    for (ncclComm_t c : g_->comms) (void)nccl().abort(c);
  }

  // An aborted NCCL group cannot be used again: its communicators are gone.
  void reset() override { (void)live(); }

 private:
  cuda::CudaBackend& be() const {
    if (!be_) fail(ErrorKind::Internal, "tensor parallel over NCCL: a collective before attach()");
    return *be_;
  }
  ncclComm_t live() {
    std::lock_guard lock(g_->m);
    if (g_->aborted)
      fail(ErrorKind::Internal, "tensor parallel: the NCCL group was aborted by an earlier failure; restart hayate");
    return g_->comms[static_cast<size_t>(rank_)];
  }

  std::shared_ptr<NcclGroup> g_;
  int rank_;
  cuda::CudaBackend* be_ = nullptr;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(int n) {
  if (n < 1)
    fail(ErrorKind::BadInput, "--tensor-parallel " + std::to_string(n) + ": give a number of GPUs of 1 or more");
  const int devices = cuda_device_count();
  if (devices < n)
    fail(ErrorKind::BadInput, "--tensor-parallel " + std::to_string(n) + ": only " + std::to_string(devices) +
                                  " CUDA device" + (devices == 1 ? " is" : "s are") + " visible");
  // NVLink multicast (NVLS) stays off unless the environment asks for it: it reserves device
  // memory on every GPU and is not what these all-reduces of a few MiB need.
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  auto group = std::make_shared<NcclGroup>();
  group->comms.resize(static_cast<size_t>(n));
  std::vector<int> devlist;
  for (int r = 0; r < n; ++r) devlist.push_back(r);
  check(nccl().init_all(group->comms.data(), n, devlist.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r) out.push_back(std::make_unique<NcclCommunicator>(group, r));
  return out;
}

}  // namespace hayate
