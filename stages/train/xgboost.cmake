# Initial cache for the XGBoost 3.4 that xgboost_lib-sys builds (its
# `local_build`), passed as CMAKE_TOOLCHAIN_FILE by .cargo/config.toml: the
# sys crate's build script fixes the build type and offers no other hook.
#
# A static library: the binaries then run without finding libxgboost.so
# (cargo run, the tests, a copied or installed `ser` alike).
set(BUILD_STATIC_LIB ON CACHE BOOL "" FORCE)
# -O3, as XGBoost's own releases are built (the sys crate asks for
# RelWithDebInfo, -O2 -g).
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O3 -DNDEBUG" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O3 -DNDEBUG" CACHE STRING "" FORCE)
