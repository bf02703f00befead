# What `cmake --install` puts beside the three binaries (whose install rules
# sit with their targets), and the Debian package `cpack -G DEB` builds from
# the same rules (scripts/package.sh). Test binaries and benchmarks have no
# install rules, so they stay out of both.
#
#   share/doc/segtune/            README.md, docs/*.md, examples/*.yaml
#   share/segtune/grafana/        dashboards/ and provisioning/ (deploy/grafana)
#   share/segtune/prometheus/     scrape config and alert rules
#   lib/systemd/system/           the coordinator and worker units

set(_segtune_doc_dir ${CMAKE_INSTALL_DATADIR}/doc/segtune)
install(FILES README.md DESTINATION ${_segtune_doc_dir})
install(DIRECTORY docs/ DESTINATION ${_segtune_doc_dir} FILES_MATCHING PATTERN "*.md")
install(DIRECTORY examples DESTINATION ${_segtune_doc_dir})
install(DIRECTORY deploy/grafana/ DESTINATION ${CMAKE_INSTALL_DATADIR}/segtune/grafana)
install(FILES deploy/prometheus/prometheus.yml deploy/prometheus/workers.yml deploy/prometheus/alerts.yml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/segtune/prometheus)

# The units in deploy/systemd start /usr/bin/segtune-*, where the .deb puts
# them. An install elsewhere (cmake --install --prefix /usr/local) gets units
# that start the binaries it installed. This runs at install time because
# the prefix is only known then (`cmake --install --prefix` overrides it);
# DESTDIR, which CPack stages into, is applied by file(INSTALL).
foreach(_segtune_unit segtune-coordinator.service segtune-worker@.service)
  install(CODE "
    file(READ \"${CMAKE_CURRENT_SOURCE_DIR}/deploy/systemd/${_segtune_unit}\" _unit)
    string(REPLACE \"ExecStart=/usr/bin/\" \"ExecStart=\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" _unit \"\${_unit}\")
    file(WRITE \"${CMAKE_CURRENT_BINARY_DIR}/systemd/${_segtune_unit}\" \"\${_unit}\")
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
         FILES \"${CMAKE_CURRENT_BINARY_DIR}/systemd/${_segtune_unit}\")
  ")
endforeach()

# --- Debian package ---------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME segtune)
set(CPACK_PACKAGE_VENDOR segtune)
# Placeholders until the project has a public home: set both when packaging
# a release (-DSEGTUNE_PACKAGE_MAINTAINER=... -DSEGTUNE_HOMEPAGE=...).
set(SEGTUNE_PACKAGE_MAINTAINER "segtune maintainers <segtune@localhost>" CACHE STRING
    "Maintainer field of the Debian package")
set(SEGTUNE_HOMEPAGE "https://segtune.invalid/" CACHE STRING "Homepage field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${SEGTUNE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Hyperparameter tuning service for semantic-segmentation training")
set(CPACK_PACKAGE_DESCRIPTION
    "A coordinator (segtune-coordinator), LibTorch training workers (segtune-worker) and a CLI (segtune) that sweep optimizers, learning-rate schedulers and their arguments, stop hopeless trials early and report the best configuration. Includes systemd units, a Grafana dashboard and Prometheus rules.")
set(CPACK_PACKAGE_HOMEPAGE_URL "${SEGTUNE_HOMEPAGE}")
# Install into the staging directory with DESTDIR and the real prefix, so the
# unit files above name /usr/bin rather than the staging path.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# RelWithDebInfo binaries are ~100 MB each; the package ships them stripped.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# segtune_<version>_<arch>.deb, the Debian convention.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The maintainer scripts create the segtune system user the units run as.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
if(SEGTUNE_TORCH_FROM_DEBIAN)
  # Depends: from the binaries' shared libraries (libtorch1.13, libgrpc++1.51, ...).
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  # dpkg-shlibdeps stops at the CUDA toolkit's versioned libraries
  # (libcudart.so.12, ...) that no Debian package provides, so Depends lists
  # the Debian libraries the binaries link by name, as Debian 12 ships them.
  # LibTorch and CUDA are not listed: the binaries find LibTorch through
  # their RPATH (README.md, "Install"), and the driver comes with the host.
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS
         ", libabsl20220623, libc6, libfmt9, libgcc-s1, libgrpc++1.51, libgrpc29, libjpeg62-turbo,"
         " libmuparser2v5, libpng16-16, libprometheus-cpp-core1.0, libprometheus-cpp-pull1.0, libprotobuf32,"
         " libspdlog1.10-fmt9, libsqlite3-0, libstdc++6, libyaml-cpp0.7, zlib1g")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/cmake/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
