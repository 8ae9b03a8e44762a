#!/usr/bin/env bash
# Builds libFlashMLASwiftC.so (the C ABI of swift-flash-mla, Swift runtime linked in
# statically) into python/flashmla_swift/, strips it, and checks that it needs no Swift
# library at run time and exports exactly the functions of flashmla_swift.h.
#
#   python/build.sh            # the shared library only
#   python/build.sh --wheel    # also a wheel in python/dist/ (pip install --no-deps it anywhere)
#
# Needs: a Swift 6.1+ toolchain for Linux with its static SDK libraries (the swift.org
# toolchain ships lib/swift_static), binutils (strip, readelf, nm); for --wheel, Python 3
# with pip. The GPU machine needs none of these: only the .so (or the wheel), Python and torch.
# Environment: FLASHMLA_SWIFT_SCRATCH overrides the build folder (default .build-python).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SCRATCH="${FLASHMLA_SWIFT_SCRATCH:-$ROOT/.build-python}"
LIB=libFlashMLASwiftC.so
DEST="$HERE/flashmla_swift/$LIB"
HEADER="$ROOT/Sources/CFlashMLA/include/flashmla_swift.h"

FLAGS=(-c release --product FlashMLASwiftC --scratch-path "$SCRATCH"
       -Xswiftc -static-stdlib
       -Xlinker "--version-script=$HERE/exports.map")
# The manifest declares the FlashMLASwiftC product only with FLASHMLA_C_LIBRARY=1 (see Package.swift).
export FLASHMLA_C_LIBRARY=1
(cd "$ROOT" && swift build "${FLAGS[@]}")
BIN="$(cd "$ROOT" && swift build "${FLAGS[@]}" --show-bin-path)"

cp "$BIN/$LIB" "$DEST.tmp"
strip --strip-unneeded "$DEST.tmp"
mv -f "$DEST.tmp" "$DEST"
mkdir -p "$HERE/flashmla_swift/include"
cp "$HEADER" "$HERE/flashmla_swift/include/"

# No Swift runtime, Foundation or dispatch library may be needed at run time.
NEEDED="$(readelf -d "$DEST" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
if grep -Eq 'swift|Foundation|dispatch|BlocksRuntime|icu' <<<"$NEEDED"; then
    echo "build.sh: $LIB still needs:" $NEEDED >&2
    exit 1
fi
# The exported functions must be exactly those the header declares.
EXPORTED="$(nm -D --defined-only "$DEST" | awk '$2 == "T" { print $3 }' | sort)"
DECLARED="$(grep -o '^[a-z].*\bflashmla_swift_[a-z0-9_]*(' "$HEADER" | grep -o 'flashmla_swift_[a-z0-9_]*' | sort)"
if [[ "$EXPORTED" != "$DECLARED" ]]; then
    echo "build.sh: exported functions differ from flashmla_swift.h" >&2
    diff <(echo "$DECLARED") <(echo "$EXPORTED") >&2 || true
    exit 1
fi

echo "built $DEST ($(du -h "$DEST" | cut -f1)); needs:" $NEEDED

if [[ "${1:-}" == "--wheel" ]]; then
    rm -rf "$HERE/dist"
    # Build isolation fetches setuptools and wheel from PyPI; offline, add --no-build-isolation
    # (needs both installed).
    FLASHMLA_SWIFT_SKIP_BUILD=1 python3 -m pip wheel --no-deps -w "$HERE/dist" "$HERE" ${FLASHMLA_SWIFT_PIP_ARGS:-}
    ls -l "$HERE/dist"
fi
