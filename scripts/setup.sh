#!/usr/bin/env bash
# Installs what televisit needs on a Debian machine: Debian packages (apt), Debian source entries
# (the wasm build compiles Debian's sources) and npm dependencies. Idempotent and quiet when all is
# present; says clearly what it cannot install. Run by `npm start`, `npm test` and `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # native build and tests
  gcc g++ make cmake pkg-config libcmocka-dev
  # the core's libraries (native); their Debian sources are rebuilt for wasm
  libsodium-dev libmbedtls-dev libcjson-dev libopus-dev libzxcvbn-dev libqrencode-dev
  # the server (libwebsockets brings OpenSSL's headers; its libev plugin gives it epoll), libcurl for
  # mail, and the openssl client its tests use
  libwebsockets-dev libwebsockets-evlib-ev libev-dev libcurl4-openssl-dev libsqlite3-dev openssl sqlite3
  # wasm toolchain and what building Debian's sources for it takes
  emscripten binaryen dpkg-dev autoconf automake libtool patch xz-utils bzip2
  # fuzzing (libFuzzer lives in clang's runtime package)
  clang libclang-rt-14-dev
  # independent checks: TOTP reference implementation, QR rendering and decoding
  oathtool librsvg2-bin zbar-tools
  # a real SMTP server for the mail tests
  python3-aiosmtpd
  # browser tests (Playwright drives Debian's Chromium and Firefox ESR; it cannot download its own
  # here), PulseAudio for a null audio sink (Firefox runs no Web Audio without an output device, and
  # this machine has none), and the TURN server the relayed-call tests start on loopback
  chromium firefox-esr pulseaudio coturn
  # certutil: the browsers' NSS database trusts the test CA of the relay's turns: certificate
  libnss3-tools
)

say() { printf 'setup: %s\n' "$*" >&2; }

# Where apt's output goes when an install fails, and where the deb-src entries are looked for (the
# setup test points both at a folder of its own).
APT_LOG="${TV_SETUP_LOG:-${TMPDIR:-/tmp}/televisit-apt.log}"
APT_SOURCES=(${TV_APT_SOURCES:-/etc/apt/sources.list /etc/apt/sources.list.d/})

missing=()
# One dpkg-query for the whole list: it runs before every npm command. dpkg-query exits 1 when any
# listed package is absent (exactly the machine that needs this script), so its status is ignored
# here and the packages it does not report as installed are the missing ones.
installed=" $( { dpkg-query -W -f='${Package}:${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true; } |
  sed -n 's/:install ok installed$//p' | tr '\n' ' ') "
for p in "${PACKAGES[@]}"; do
  [[ "$installed" == *" $p "* ]] || missing+=("$p")
done
# Any node 18+ will do (the machine may bring its own); otherwise Debian's.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

have_deb_src() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' "${APT_SOURCES[@]}" 2>/dev/null
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root to run: $*"; return 1; fi
}

need_update=0
if ! have_deb_src; then
  # Mirror the configured binary sources as source entries, so the same mirror serves both.
  say "adding Debian source entries (for the WebAssembly build of the C libraries)"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      as_root tee /etc/apt/sources.list.d/televisit-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' |
      as_root tee /etc/apt/sources.list.d/televisit-src.list >/dev/null
  else
    say "no apt sources found; cannot add deb-src entries"; exit 1
  fi
  need_update=1
fi

if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" = 1 ]; then
  [ "${#missing[@]}" -gt 0 ] && say "installing Debian packages: ${missing[*]}"
  : >"$APT_LOG"
  if ! as_root apt-get update -qq >>"$APT_LOG" 2>&1; then
    say "apt-get update failed, so these packages could not be installed: ${missing[*]:-none} (log: $APT_LOG)"
    tail -n 15 "$APT_LOG" >&2
    exit 1
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >>"$APT_LOG" 2>&1; then
      say "apt-get could not install: ${missing[*]} (log: $APT_LOG)"
      tail -n 15 "$APT_LOG" >&2
      exit 1
    fi
    say "installed: ${missing[*]}"
  fi
fi

# npm dependencies, when package.json or the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2 || { say "npm ci failed"; exit 1; }
fi
