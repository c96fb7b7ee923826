#include "backend/cuda/dl_library.h"

#include <dlfcn.h>

#include "core/error.h"

namespace hayate::cuda {

void* open_library(const std::string& name, const std::string& purpose, const std::string& hint) {
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    fail(ErrorKind::Unsupported,
         "cannot load " + name + " for " + purpose + ": " + (why ? why : "unknown error") + " (" + hint + ")");
  }
  return lib;
}

void* library_symbol(void* lib, const char* library, const char* name) {
  void* f = dlsym(lib, name);
  if (!f) fail(ErrorKind::Unsupported, std::string(library) + ": the library has no " + name);
  return f;
}

}  // namespace hayate::cuda
