# Initial cache for the XGBoost 3.4 that xgboost_lib-sys builds (its
# `local_build`), passed as CMAKE_TOOLCHAIN_FILE by .cargo/config.toml: the
# sys crate's build script fixes the build type and offers no other hook.
#
# A static library: the binaries then run without finding libxgboost.so
# (cargo run, the tests, a copied or installed `ser` alike).
set(BUILD_STATIC_LIB ON CACHE BOOL "" FORCE)
# The library in this build's own folder: by default XGBoost writes it into
# its source folder, which is the sys crate's folder in cargo's shared
# registry, so a build of another configuration (another target folder,
# `--features xgboost-gpu`) overwrote the one every other build installs.
set(KEEP_BUILD_ARTIFACTS_IN_BINARY_DIR ON CACHE BOOL "" FORCE)
# -O3, as XGBoost's own releases are built (the sys crate asks for
# RelWithDebInfo, -O2 -g).
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O3 -DNDEBUG" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-O3 -DNDEBUG" CACHE STRING "" FORCE)
# XGBoost's CUDA build (`--features xgboost-gpu`): the CUDA toolkit in
# /usr/local/cuda, where neither CUDACXX nor PATH names an nvcc.
if(USE_CUDA AND NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX}
   AND EXISTS /usr/local/cuda/bin/nvcc)
  find_program(nvcc_on_path nvcc)
  if(NOT nvcc_on_path)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc CACHE FILEPATH "" FORCE)
  endif()
endif()
