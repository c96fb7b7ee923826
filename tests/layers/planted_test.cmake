# Shows that scripts/layers.cmake fails where it should: on a copy of src/ it plants, one at a
# time, an upward include, an include of an undeclared folder, a declared dependency nothing
# includes and a cycle of declared dependencies, and checks that each one fails the check with
# a message naming the file, the line and the crossing. The unchanged copy must pass first.
#
#   cmake -DSOURCE=<checkout> -DWORK=<scratch dir> -P tests/layers/planted_test.cmake
cmake_minimum_required(VERSION 3.25)

set(script "${SOURCE}/scripts/layers.cmake")
set(failures "")

# Copies the checkout's src/ and docs/ to WORK afresh.
function(fresh_copy)
  file(REMOVE_RECURSE "${WORK}")
  file(MAKE_DIRECTORY "${WORK}")
  file(COPY "${SOURCE}/src" "${SOURCE}/docs" DESTINATION "${WORK}")
endfunction()

# Appends `text` as a new last line of WORK/<rel> and sets <line_out> to its line number.
function(plant rel text line_out)
  file(READ "${WORK}/${rel}" content)
  string(REGEX MATCHALL "\n" newlines "${content}")
  list(LENGTH newlines n)
  math(EXPR n "${n} + 1")
  file(APPEND "${WORK}/${rel}" "${text}\n")
  set(${line_out} ${n} PARENT_SCOPE)
endfunction()

function(replace_in rel from to)
  file(READ "${WORK}/${rel}" content)
  string(FIND "${content}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "planted_test: '${from}' is not in ${rel}; update this test")
  endif()
  string(REPLACE "${from}" "${to}" content "${content}")
  file(WRITE "${WORK}/${rel}" "${content}")
endfunction()

# Runs the script in `mode` on WORK; `expect` is "pass" or a regular expression its output must match.
function(expect_check what mode expect)
  execute_process(COMMAND "${CMAKE_COMMAND}" -DROOT=${WORK} -DMODE=${mode} -P "${script}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(all "${out}${err}")
  if(expect STREQUAL "pass")
    if(NOT rc EQUAL 0)
      string(APPEND failures "${what}: expected the check to pass, it failed:\n${all}\n")
    endif()
  elseif(rc EQUAL 0)
    string(APPEND failures "${what}: expected the check to fail, it passed:\n${all}\n")
  elseif(NOT all MATCHES "${expect}")
    string(APPEND failures "${what}: the failure does not say /${expect}/:\n${all}\n")
  endif()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()

fresh_copy()
expect_check("the unchanged tree" check pass)
expect_check("the unchanged tree's graph" graph pass)

# model/ sits below engine/ (engine -> forward -> backend -> model, or a shorter way).
plant("src/model/batch.h" "#include \"engine/engine.h\"" line)
expect_check("an upward include" check
             "src/model/batch.h:${line}: #include \"engine/engine.h\": model/ includes engine/, which is above it \\(it depends on model/: engine -> [a-z >-]*model\\)")

fresh_copy()
plant("src/chat/value.h" "#include \"report/svg.h\"" line)
expect_check("an undeclared include" check
             "src/chat/value.h:${line}: #include \"report/svg.h\": chat/ includes report/, but hayate_chat does not declare hayate_report")

fresh_copy()
replace_in("src/CMakeLists.txt" "hayate_module(quant DEPS hayate_core)" "hayate_module(quant DEPS hayate_core hayate_gguf)")
expect_check("a declared dependency nothing includes" check
             "src/CMakeLists.txt: hayate_quant declares hayate_gguf, but no file in src/quant/ includes gguf/")

fresh_copy()
replace_in("src/CMakeLists.txt" "hayate_module(core DEPS Threads::Threads)" "hayate_module(core DEPS hayate_quant Threads::Threads)")
plant("src/core/error.h" "#include \"quant/quant.h\"" line)
expect_check("a cycle of declared dependencies" check "the declared dependencies form a cycle: [a-z]+ -> [a-z >-]+")
expect_check("a cycle in the graph" graph "the folders' includes form a cycle: [a-z]+ -> [a-z >-]+")

fresh_copy()
replace_in("docs/ARCHITECTURE.md" "layer  folder" "layer  folders")
expect_check("a stale diagram" doc "the layer diagram differs from the include graph")

file(REMOVE_RECURSE "${WORK}")
if(failures)
  message(FATAL_ERROR "planted_test:\n${failures}")
endif()
message(STATUS "planted_test: every planted crossing fails the layer check with its file and line")
