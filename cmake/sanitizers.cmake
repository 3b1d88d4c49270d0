# SHEPHERD_SANITIZE=address,undefined builds everything with those sanitizers.
if(SHEPHERD_SANITIZE)
  add_compile_options(-fsanitize=${SHEPHERD_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SHEPHERD_SANITIZE})
endif()
