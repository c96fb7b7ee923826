// The libraries the CUDA backend loads on first use rather than at program start (cuBLAS, NCCL):
// dlopen and dlsym with errors that say what is missing.
#pragma once

#include <string>

namespace hayate::cuda {

// dlopen(name) (the library stays loaded for the process); Error(Unsupported) "cannot load NAME
// for PURPOSE: WHY (HINT)".
void* open_library(const std::string& name, const std::string& purpose, const std::string& hint);

// Symbol `name` of `lib` as a function pointer; Error(Unsupported) "LIBRARY: the library has no NAME".
void* library_symbol(void* lib, const char* library, const char* name);
template <class Fn>
void resolve(void* lib, const char* library, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(library_symbol(lib, library, name));
}

}  // namespace hayate::cuda
