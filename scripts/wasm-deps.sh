#!/usr/bin/env bash
# Builds the C libraries the core links, for WebAssembly, from Debian's source packages
# (the same versions as the installed -dev packages, with Debian's patches applied).
# Results are cached outside the tree, one directory per library and version; a second run takes
# a moment. Prints the cache directory; CMake reads <dir>/<lib>/{include,lib}.
set -euo pipefail

CACHE="${TV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/televisit}/wasm-deps"
JOBS="$(nproc)"
mkdir -p "$CACHE"
export NODE_PATH=/usr/share/nodejs   # emcc needs Debian's acorn (see shared notes)
EMCC_VERSION="$(emcc --version | head -n1 | awk '{print $NF == "()" ? $(NF-1) : $NF}')"
LOG="$CACHE/build.log"
PATCHES="$(cd "$(dirname "$0")" && pwd)/patches"   # our own patches to Debian's sources

say() { printf 'wasm-deps: %s\n' "$*" >&2; }

# The source version of the installed -dev package, so both targets use the same code.
src_version() { dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null; }

# Fetch and unpack a Debian source package into $2; apply debian/patches/series when Debian's part is
# available. apt-get refuses the whole download when one file is missing, so fetch what exists and
# say plainly what was not there.
unpack_source() {
  local pkg="$1" ver="$2" dest="$3" work
  work="$(mktemp -d "$CACHE/.src.XXXXXX")"
  (cd "$work" && apt-get source --download-only -qq "$pkg=$ver" >>"$LOG" 2>&1) || true
  local orig
  orig="$(ls "$work"/"${pkg}"_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n1 || true)"
  if [ -z "$orig" ]; then
    say "$pkg $ver: Debian's source is not available from the configured mirror"
    rm -rf "$work"; return 2
  fi
  # This function runs under `if !`, where bash ignores set -e: every step checks its own status.
  mkdir -p "$dest" || return 1
  tar -xf "$orig" -C "$dest" --strip-components=1 || { say "$pkg: cannot unpack $orig"; return 1; }
  local deb
  deb="$(ls "$work"/"${pkg}"_*.debian.tar.* 2>/dev/null | head -n1 || true)"
  if [ -n "$deb" ]; then
    tar -xf "$deb" -C "$dest" || { say "$pkg: cannot unpack $deb"; return 1; }
    if [ -f "$dest/debian/patches/series" ]; then
      local p
      while read -r p _ || [ -n "$p" ]; do
        case "$p" in ''|'#'*) continue ;; esac
        patch -s -p1 -d "$dest" < "$dest/debian/patches/$p" >&2 ||
          { say "$pkg: Debian patch $p does not apply"; return 1; }
      done < "$dest/debian/patches/series"
    fi
  else
    say "WARNING: $pkg $ver: Debian's patch set is not on the mirror; built from the upstream tarball alone"
    echo "debian-part-missing" > "$dest/.televisit-unpatched"
  fi
  rm -rf "$work"
}

# build_lib NAME DEBIAN-SOURCE DEV-PACKAGE RECIPE-REVISION: runs build_NAME in a fresh tree when the
# version, recipe revision or emcc changed, installs into $CACHE/NAME-<stamp>, and points $CACHE/NAME at it.
build_lib() {
  local name="$1" srcpkg="$2" devpkg="$3" rev="$4" ver stamp prefix
  ver="$(src_version "$devpkg")"
  if [ -z "$ver" ]; then say "$devpkg is not installed (run scripts/setup.sh)"; return 1; fi
  stamp="${ver}-r${rev}-emcc${EMCC_VERSION}"
  prefix="$CACHE/$name-$stamp"
  if [ -f "$prefix/.done" ]; then ln -sfn "$prefix" "$CACHE/$name"; rm -f "$CACHE/$name-$ver.unavailable"; return 0; fi
  # A source the mirror did not have is asked for again once a day, not on every build.
  local missing="$CACHE/$name-$ver.unavailable"
  if [ -f "$missing" ] && [ -n "$(find "$missing" -mmin -1440 2>/dev/null)" ]; then
    ln -sfn /nonexistent "$CACHE/$name"; return 2
  fi
  say "building $name $ver for wasm (first time only)"
  rm -rf "$prefix" "$CACHE/$name.src"
  local urc=0
  unpack_source "$srcpkg" "$ver" "$CACHE/$name.src" || urc=$?
  if [ "$urc" = 2 ]; then
    rm -rf "$CACHE/$name.src"; ln -sfn /nonexistent "$CACHE/$name"; touch "$missing"; return 2
  elif [ "$urc" != 0 ]; then
    rm -rf "$CACHE/$name.src"; return 1
  fi
  mkdir -p "$prefix/include" "$prefix/lib"
  # A recipe runs in its own shell: inside `||` bash would ignore set -e and hide a failed step.
  (cd "$CACHE/$name.src" && JOBS="$JOBS" TV_PATCHES="$PATCHES" bash -euo pipefail -c "$(declare -f "build_$name"); build_$name \"\$1\"" _ "$prefix") \
    >>"$LOG" 2>&1 || {
    say "building $name failed; see $LOG"; tail -n 30 "$LOG" >&2; return 1; }
  if [ -f "$CACHE/$name.src/.televisit-unpatched" ]; then cp "$CACHE/$name.src/.televisit-unpatched" "$prefix/"; fi
  echo "$stamp" > "$prefix/.done"
  rm -rf "$CACHE/$name.src"
  ln -sfn "$prefix" "$CACHE/$name"
}

# libsodium stays at -O2 even for size builds: at -Oz XChaCha20 ran about 5x slower.
build_sodium() {
  DO_NOT_UPDATE_CONFIG_SCRIPTS=1 ./autogen.sh -s
  emconfigure ./configure --host=wasm32-unknown-emscripten --prefix="$1" \
    --disable-shared --enable-static --without-pthreads --disable-ssp --disable-asm --disable-pie \
    CFLAGS="-O2"
  emmake make -j"$JOBS" install
}

# The same libsodium for the media worker's SIMD module (televisit-media-simd.wasm) only, with its
# SSSE3 ChaCha20 (Dolbeau), which emscripten compiles to wasm SIMD128 (each intrinsic those files use
# maps to one or two SIMD instructions). Its SSSE3 BLAKE2b and SSE2 Salsa20 come along (same pickers).
# Under emscripten configure skips its intrinsics checks and runtime.c finds no cpuid, so:
# - the SIMD flags reach only the files libsodium compiles per instruction set (its libsse2/libssse3
#   convenience libraries, filled from CFLAGS_SSE2/CFLAGS_SSSE3); the rest of the library is compiled
#   as in build_sodium (auto-vectorising all of it had made ChaCha20 slower);
# - HAVE_EMMINTRIN_H/HAVE_TMMINTRIN_H tell the implementation pickers that those files exist;
# - scripts/patches/libsodium-wasm-simd.patch (read it) makes runtime.c report SSE2 and SSSE3 when built
#   with SODIUM_WASM_SIMD128, works around an emscripten 3.1.6 miscompile of the 4-block ChaCha20, and
#   leaves messages shorter than 256 bytes (and tails) to the scalar ChaCha20, faster there in wasm.
# Poly1305 stays scalar (the patch says why). tests/core/test_sframe.c checks this build's output against
# Debian's native libsodium for every length up to 1100 bytes and some large ones.
# Bump its revision below whenever that patch or these flags change.
build_sodium_simd() {
  patch -p1 < "$TV_PATCHES/libsodium-wasm-simd.patch"
  DO_NOT_UPDATE_CONFIG_SCRIPTS=1 ./autogen.sh -s
  CFLAGS_SSE2="-msimd128 -msse2" CFLAGS_SSSE3="-msimd128 -mssse3" \
    emconfigure ./configure --host=wasm32-unknown-emscripten --prefix="$1" \
    --disable-shared --enable-static --without-pthreads --disable-ssp --disable-asm --disable-pie \
    CPPFLAGS="-DSODIUM_WASM_SIMD128 -DHAVE_EMMINTRIN_H=1 -DHAVE_TMMINTRIN_H=1" CFLAGS="-O2"
  # configure must have kept the flags (it sets them only in its native branch); otherwise the
  # library would silently be the scalar one.
  grep -q 'msimd128' src/libsodium/Makefile
  emmake make -j"$JOBS" install
}

# mbedTLS forces -O2 in Release for clang, so the build type is None and flags are explicit.
build_mbedtls() {
  emcmake cmake -S . -B build -DCMAKE_BUILD_TYPE=None -DCMAKE_C_FLAGS="-O2" \
    -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$1"
  cmake --build build -j"$JOBS"
  cmake --install build
}

build_cjson() {
  emcc -O2 -c cJSON.c -o cJSON.o
  emar rcs "$1/lib/libcjson.a" cJSON.o
  mkdir -p "$1/include/cjson" && cp cJSON.h "$1/include/cjson/"
}

build_opus() {
  cp /usr/share/misc/config.sub /usr/share/misc/config.guess .
  emconfigure ./configure --host=wasm32-unknown-emscripten --prefix="$1" --disable-shared --enable-static \
    --disable-extra-programs --disable-doc --disable-intrinsics --disable-rtcd --disable-asm \
    --disable-stack-protector CFLAGS="-O2"
  emmake make -j"$JOBS" install
}

build_qrencode() {
  emcmake cmake -S . -B build -DCMAKE_BUILD_TYPE=None -DCMAKE_C_FLAGS="-O2" -DWITH_TOOLS=NO \
    -DWITH_TESTS=NO -DBUILD_SHARED_LIBS=OFF -DCMAKE_INSTALL_PREFIX="$1"
  cmake --build build -j"$JOBS"
  cmake --install build
}

# The dictionary is generated by a host program from the word lists, then compiled for wasm.
build_zxcvbn() {
  g++ -O2 -std=c++11 -o dictgen dict-generate.cpp
  ./dictgen -o dict-src.h words-eng_wiki.txt words-female.txt words-male.txt words-passwd.txt \
    words-surname.txt words-tv_film.txt
  emcc -O2 -c zxcvbn.c -o zxcvbn.o
  emar rcs "$1/lib/libzxcvbn.a" zxcvbn.o
  cp zxcvbn.h "$1/include/"
}

# Tests only: the same cmocka as natively, so the wasm test binaries are the native ones recompiled.
build_cmocka() {
  # Its CMake always adds a shared library, which emscripten cannot make: configure for config.h,
  # then compile the one source file.
  emcmake cmake -S . -B build -DCMAKE_BUILD_TYPE=None -DWITH_EXAMPLES=OFF -DUNIT_TESTING=OFF
  # musl has uintptr_t; cmocka.h would otherwise typedef its own (CMake passes the same define to tests).
  emcc -O2 -D_UINTPTR_T_DEFINED -DHAVE_CONFIG_H -Ibuild -Iinclude -c src/cmocka.c -o cmocka.o
  emar rcs "$1/lib/libcmocka.a" cmocka.o
  cp include/cmocka.h "$1/include/"
}

fail=0
build_lib sodium   libsodium libsodium-dev  1 || fail=1
build_lib sodium_simd libsodium libsodium-dev 4 || fail=1
build_lib mbedtls  mbedtls   libmbedtls-dev 1 || fail=1
build_lib cjson    cjson     libcjson-dev   1 || fail=1
build_lib opus     opus      libopus-dev    1 || fail=1
build_lib qrencode qrencode  libqrencode-dev 1 || fail=1
build_lib cmocka   cmocka    libcmocka-dev  2 || fail=1
# zxcvbn-c's source has been missing from some mirrors: without it the wasm core is built without the
# strength estimate (the policy rules still run), and the build says so.
rc=0; build_lib zxcvbn zxcvbn-c libzxcvbn-dev 1 || rc=$?
if [ "$rc" = 2 ]; then
  say "WARNING: zxcvbn-c unavailable for wasm; the browser core has no strength estimate (native has)"
elif [ "$rc" != 0 ]; then fail=1; fi
[ "$fail" = 0 ] || exit 1
echo "$CACHE"
