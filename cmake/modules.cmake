# One static library per source folder, so that a folder's users link only what they need
# and a half-edited folder does not break the build of the others. HAYATE_SHARED_MODULES makes
# them shared libraries instead (the sanitizer pass: ~120 test programs then share one copy of
# the instrumented code rather than each carrying its own, which filled CI's disk).
#
# Files named *_avx2.cpp / *_avx512.cpp are compiled with those instruction sets; the code in
# them is only called after a run-time CPU check, so the binary stays portable.
#
# HAYATE_UNITY_BUILD compiles a library's files in batches of eight, so the Boost.Asio/Beast and
# JSON templates that several of its files use are instantiated (and instrumented, in the
# sanitizer builds) once per batch rather than once per file. Folders whose files define the same
# names in anonymous namespaces cannot be batched; they are listed here and compiled file by file.
# A new clash shows only where HAYATE_UNITY_BUILD is on (CI's sanitizer passes): rename the helper
# or list its folder here.
set(hayate_unity_clashes bench chat convert forward gateway gguf image rag report session tokenizer)

function(hayate_module name)
  cmake_parse_arguments(M "" "DIR" "DEPS" ${ARGN})
  if(NOT M_DIR)
    set(M_DIR ${name})
  endif()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${M_DIR}/*.cpp)
  # A cuda/ folder is built only with CUDA (its .cu files too); cuda_unavailable.cpp stands in
  # for it otherwise.
  set(has_cuda OFF)
  if(HAYATE_HAVE_CUDA)
    list(FILTER srcs EXCLUDE REGEX "/cuda_unavailable\\.cpp$")
    file(GLOB_RECURSE cu_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${M_DIR}/*.cu)
    if(cu_srcs)
      list(APPEND srcs ${cu_srcs})
      set(has_cuda ON)
    endif()
  else()
    list(FILTER srcs EXCLUDE REGEX "/cuda/")
  endif()
  if(NOT srcs)
    message(STATUS "hayate: ${M_DIR}/ has no sources yet; hayate_${name} is not built")
    return()
  endif()
  if(HAYATE_SHARED_MODULES)
    add_library(hayate_${name} SHARED ${srcs})
  else()
    add_library(hayate_${name} STATIC ${srcs})
  endif()
  target_include_directories(hayate_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  if(HAYATE_UNITY_BUILD AND NOT name IN_LIST hayate_unity_clashes)
    set_target_properties(hayate_${name} PROPERTIES UNITY_BUILD ON)
  endif()
  target_link_libraries(hayate_${name} PUBLIC ${M_DEPS})
  if(has_cuda)
    # cuBLAS is loaded with dlopen when a CUDA backend is made (backend/cuda/cublas_api.h).
    target_link_libraries(hayate_${name} PUBLIC CUDA::cudart ${CMAKE_DL_LIBS})
    target_include_directories(hayate_${name} PUBLIC ${CUDAToolkit_INCLUDE_DIRS})
    target_compile_definitions(hayate_${name} PUBLIC HAYATE_HAVE_CUDA=1)
    if(HAYATE_CUDA_PTXAS_VERBOSE)
      target_compile_options(hayate_${name} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-v>")
    endif()
  endif()
  foreach(src ${srcs})
    if(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
    elseif(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx512bf16")
    endif()
  endforeach()
endfunction()
