# lnbench_git_commit(<dir> <var>): sets <var> to the commit of the git tree at
# <dir> (12 hex digits), with "-dirty" when tracked files have uncommitted
# changes, or "unknown" without git. Used by git_sha.cmake (the header written
# at every build) and check_version.cmake (its test).
function(lnbench_git_commit dir var)
  execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${dir}
                  OUTPUT_VARIABLE sha OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${dir}
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT sha)
    set(sha "unknown")
  elseif(dirty)
    set(sha "${sha}-dirty")
  endif()
  set(${var} "${sha}" PARENT_SCOPE)
endfunction()
