# Test: `lnbench --version` names the commit of the source tree it was built
# from (cmake/git_sha.cmake writes it at every build), "-dirty" when tracked
# files have uncommitted changes, "unknown" without git.
#   cmake -DLNBENCH=<binary> -DSOURCE_DIR=<tree> -P check_version.cmake
execute_process(COMMAND ${LNBENCH} --version OUTPUT_VARIABLE version RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lnbench --version exited with ${rc}")
endif()
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT sha)
  set(sha "unknown")
elseif(dirty)
  set(sha "${sha}-dirty")
endif()
string(FIND "${version}" "(${sha})" at)
if(at EQUAL -1)
  message(FATAL_ERROR "lnbench --version says '${version}'; the source tree is at ${sha} "
                      "(rebuild: the commit is written at every build)")
endif()
message(STATUS "lnbench --version names ${sha}")
