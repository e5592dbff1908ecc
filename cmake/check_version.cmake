# Test: `lnbench --version` names the commit of the source tree it was built
# from (cmake/git_sha.cmake writes it at every build), "-dirty" when tracked
# files have uncommitted changes, "unknown" without git.
#   cmake -DLNBENCH=<binary> -DSOURCE_DIR=<tree> -P check_version.cmake
execute_process(COMMAND ${LNBENCH} --version OUTPUT_VARIABLE version RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lnbench --version exited with ${rc}")
endif()
include(${CMAKE_CURRENT_LIST_DIR}/git_commit.cmake)
lnbench_git_commit(${SOURCE_DIR} sha)
string(FIND "${version}" "(${sha})" at)
if(at EQUAL -1)
  message(FATAL_ERROR "lnbench --version says '${version}'; the source tree is at ${sha} "
                      "(rebuild: the commit is written at every build)")
endif()
message(STATUS "lnbench --version names ${sha}")
