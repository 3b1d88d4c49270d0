# Install rules and the Debian package:
#
#   cmake --preset release && cmake --build --preset release --target package
#
# makes build/release/shepherd_<version>_<arch>.deb. What it holds:
#
#   /usr/bin/shepherd                      the binary (stripped)
#   /lib/systemd/system/shepherd.service   the hardened unit (packaging/shepherd.service)
#   /etc/shepherd/shepherd.yaml            the default config, a conffile (no provider yet)
#   /etc/shepherd/shepherd.env             the secrets' template, a conffile, mode 0600
#   /usr/share/doc/shepherd/               README.md and config.md
#
# The maintainer scripts (packaging/debian/) create the `shepherd` system user and
# /var/lib/shepherd, where the SQLite store lives. Depends is computed by dpkg-shlibdeps (from
# Debian's dpkg-dev), plus adduser for postinst.
#
# The /etc and /lib destinations are absolute: a Debian package puts them there whatever the
# prefix (CPack's DEB generator stages them under its own root). `cmake --install` would write
# them to this machine's /etc and /lib, and the binary under CMAKE_INSTALL_PREFIX, not where the
# unit looks for it: install the package instead.

set(SHEPHERD_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

install(TARGETS shepherd RUNTIME DESTINATION bin)
install(FILES ${SHEPHERD_PACKAGING_DIR}/shepherd.service DESTINATION /lib/systemd/system)
install(FILES ${SHEPHERD_PACKAGING_DIR}/shepherd.yaml DESTINATION /etc/shepherd)
install(FILES ${SHEPHERD_PACKAGING_DIR}/shepherd.env DESTINATION /etc/shepherd
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/config.md
        DESTINATION share/doc/shepherd)

set(SHEPHERD_PACKAGE_MAINTAINER "Shepherd maintainers <maintainers@shepherd.invalid>"
    CACHE STRING "The Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME shepherd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SHEPHERD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "LLM API gateway")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # shepherd_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SHEPHERD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The extended description; CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY before it as the synopsis.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Shepherd speaks the OpenAI and Anthropic APIs to clients and relays their requests to
OpenAI-compatible, Anthropic, Gemini and FastChat providers over pooled connections,
translating between dialects, with API and virtual keys, budgets, retries, fallbacks,
an audit log and Prometheus metrics. One binary, run by the shepherd.service unit.")
# dpkg-shlibdeps reads the binary's libraries; CPack appends what it finds to this list.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${SHEPHERD_PACKAGING_DIR}/debian/conffiles
    ${SHEPHERD_PACKAGING_DIR}/debian/postinst
    ${SHEPHERD_PACKAGING_DIR}/debian/prerm
    ${SHEPHERD_PACKAGING_DIR}/debian/postrm)
# Maintainer scripts 0755, other control files 0644, whatever the checkout's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
