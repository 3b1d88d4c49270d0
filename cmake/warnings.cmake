# Project-wide warning flags. SHEPHERD_WERROR turns them into errors (CI).
function(shepherd_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wimplicit-fallthrough)
  # GCC 12 misreads the allocation of coroutine frames that use a class operator new (Asio's
  # awaitable frames) as a mismatched new/delete pair; the warning is a compiler false positive.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(SHEPHERD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
