# cmake --install to a temporary prefix, then build examples/plugins out of
# lnbench's tree against the installed package (find_package(lnbench) ->
# lnbench::plugin) and verify the plugin with the installed lnbench.
# Arguments: -DSOURCE_DIR -DBINARY_DIR -DWORK (a folder this test owns).
file(REMOVE_RECURSE ${WORK})
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
endfunction()
step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK}/prefix)
foreach(f bin/lnbench include/lnbench/plugin.h lib/cmake/lnbench/lnbenchConfig.cmake)
  if(NOT EXISTS ${WORK}/prefix/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
step(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/plugins -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix
     -DLNBENCH_EXAMPLE_CUDA=OFF -DCMAKE_BUILD_TYPE=Release)
step(${CMAKE_COMMAND} --build ${WORK}/build)
step(${WORK}/prefix/bin/lnbench verify --plugin ${WORK}/build/liblnbench_example_cpu.so -b example_c
     --shape 7x300,64x1024 --dtype f32 --dist normal,offset1e4 --stats)
if(NOT step_out MATCHES "4 passed, 0 failed")
  message(FATAL_ERROR "unexpected verify output:\n${step_out}")
endif()
file(REMOVE_RECURSE ${WORK})
