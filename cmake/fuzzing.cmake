# SHEPHERD_FUZZ builds every project library with libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link), so a fuzzer is guided by the branches of the code under test and
# not only by those of its harness. The harness executables add -fsanitize=fuzzer, which links
# libFuzzer and its main (fuzz/CMakeLists.txt).
if(SHEPHERD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SHEPHERD_FUZZ needs clang (cmake --preset fuzz)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
