// The two host backends' factories, for the backend table (backend/registry.cpp).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace hayate {

std::unique_ptr<Backend> make_cpu_backend(int n_threads);  // threaded, SIMD, quantized activations
std::unique_ptr<Backend> make_reference_backend();         // plain fp32, one thread: the oracle

}  // namespace hayate
