#!/usr/bin/env bash
# Assemble the FlashMLA HEAD build kit (run on the development machine, not on the GPU one).
#   bench/flashmla-head/make_kit.sh [OUT_DIR]      # default OUT_DIR: /work/main/.device/head
# Needs bare git mirrors of deepseek-ai/FlashMLA and NVIDIA/cutlass (the `fetch` tool makes them).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-/work/main/.device/head}
FLASHMLA_GIT=${FLASHMLA_GIT:-/work/.mirror/deepseek-ai+FlashMLA/repo}
CUTLASS_GIT=${CUTLASS_GIT:-/work/.mirror/NVIDIA+cutlass/repo}
FLASHMLA_COMMIT=${FLASHMLA_COMMIT:-9241ae3ef9bac614dd25e45e507e089f888280e0}
# the CUTLASS commit FlashMLA pins as its csrc/cutlass submodule
CUTLASS_COMMIT=${CUTLASS_COMMIT:-$(git --git-dir="$FLASHMLA_GIT" ls-tree "$FLASHMLA_COMMIT" csrc/cutlass | awk '{print $3}')}
PY312_INCLUDE=${PY312_INCLUDE:-/root/.pyenv/versions/3.12.1/include/python3.12}

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
K=$STAGE/flashmla-head-kit
mkdir -p "$K/FlashMLA" "$K/pyinclude"
git --git-dir="$FLASHMLA_GIT" archive "$FLASHMLA_COMMIT" | tar -x -C "$K/FlashMLA"
rm -rf "$K/FlashMLA/csrc/cutlass" "$K/FlashMLA/docs/assets"
mkdir -p "$K/FlashMLA/csrc/cutlass"
git --git-dir="$CUTLASS_GIT" archive "$CUTLASS_COMMIT" include tools/util/include LICENSE.txt | tar -x -C "$K/FlashMLA/csrc/cutlass"
[ -f "$PY312_INCLUDE/Python.h" ] && cp -a "$PY312_INCLUDE" "$K/pyinclude/python3.12"
cp "$HERE"/{build.sh,bench_sparse.py,flashmla_kit_stubs.cpp,README.md,MODEL1.md} "$K/"
cp "$K/FlashMLA/LICENSE" "$K/LICENSE.FlashMLA"
cp "$K/FlashMLA/csrc/cutlass/LICENSE.txt" "$K/LICENSE.cutlass"
cat > "$K/KIT_COMMITS.txt" <<EOF
FlashMLA  github.com/deepseek-ai/FlashMLA  $FLASHMLA_COMMIT  ($(git --git-dir="$FLASHMLA_GIT" log -1 --format='%ad %s' "$FLASHMLA_COMMIT"))
CUTLASS   github.com/NVIDIA/cutlass        $CUTLASS_COMMIT  ($(git --git-dir="$CUTLASS_GIT" describe --tags "$CUTLASS_COMMIT" 2>/dev/null || true); FlashMLA's csrc/cutlass submodule pin; include/, tools/util/include/, LICENSE.txt only)
Python    CPython 3.12 headers (fallback only, used when the GPU machine has no Python.h): $PY312_INCLUDE
Left out of FlashMLA's tree: docs/assets (images). Nothing else is removed or patched.
EOF
mkdir -p "$OUT"
tar --sort=name --mtime='2026-01-01 00:00Z' --owner=0 --group=0 --numeric-owner -C "$STAGE" -cf - flashmla-head-kit | gzip -n -9 > "$OUT/kit.tar.gz"
cp "$HERE"/{build.sh,bench_sparse.py,README.md,MODEL1.md} "$OUT/"
cp "$K/LICENSE.FlashMLA" "$OUT/"
echo "kit: $OUT/kit.tar.gz ($(du -h "$OUT/kit.tar.gz" | cut -f1)); FlashMLA $FLASHMLA_COMMIT, CUTLASS $CUTLASS_COMMIT"
