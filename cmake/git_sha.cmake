# Writes OUTPUT, a header defining LNBENCH_GIT_SHA (the source tree's commit,
# "-dirty" with uncommitted changes to tracked files, "unknown" without git),
# at every build, not only when CMake configures: a build folder configured
# at one commit and rebuilt at another must not report the old commit. The
# file is rewritten only when its text changes, so an unchanged commit
# recompiles nothing.
#   cmake -DSOURCE_DIR=<tree> -DOUTPUT=<header> -P git_sha.cmake
include(${CMAKE_CURRENT_LIST_DIR}/git_commit.cmake)
lnbench_git_commit(${SOURCE_DIR} sha)
set(text "// Generated at build time by cmake/git_sha.cmake: the commit of this build.\n#ifndef LNBENCH_CORE_GIT_SHA_H_\n#define LNBENCH_CORE_GIT_SHA_H_\n#define LNBENCH_GIT_SHA \"${sha}\"\n#endif  // LNBENCH_CORE_GIT_SHA_H_\n")
set(old "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUTPUT}" "${text}")
endif()
