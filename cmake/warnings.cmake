# Project-wide warning flags. SHEPHERD_WERROR turns them into errors (CI).
function(shepherd_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wimplicit-fallthrough)
  if(SHEPHERD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
