# One static library per source folder, so that a folder's users link only what they need
# and a half-edited folder does not break the build of the others.
#
# Files named *_avx2.cpp / *_avx512.cpp are compiled with those instruction sets; the code in
# them is only called after a run-time CPU check, so the binary stays portable.
function(hayate_module name)
  cmake_parse_arguments(M "" "DIR" "DEPS" ${ARGN})
  if(NOT M_DIR)
    set(M_DIR ${name})
  endif()
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${M_DIR}/*.cpp)
  if(NOT srcs)
    message(STATUS "hayate: ${M_DIR}/ has no sources yet; hayate_${name} is not built")
    return()
  endif()
  add_library(hayate_${name} STATIC ${srcs})
  target_include_directories(hayate_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(hayate_${name} PUBLIC ${M_DEPS})
  foreach(src ${srcs})
    if(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
    elseif(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS
        "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512dq;-mavx512vnni;-mavx512bf16")
    endif()
  endforeach()
endfunction()
