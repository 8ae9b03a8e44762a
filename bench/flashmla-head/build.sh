#!/usr/bin/env bash
# Build FlashMLA HEAD's sm90a decode path as the Python package `flash_mla`
# (extension module `flash_mla.cuda`, as HEAD's flash_mla/flash_mla_interface.py imports it),
# from the carried kit, with nvcc in parallel. For comparison benchmarks only; see README.md.
#
#   bash .device/head/build.sh            # kit.tar.gz next to this script, build in /tmp/flashmla-head
#   export PYTHONPATH=/tmp/flashmla-head/pkg:$PYTHONPATH
#
# Environment knobs (all optional):
#   FLASHMLA_HEAD_BUILD=/path   where to build (default /tmp/flashmla-head; kept across calls on a warm machine)
#   KIT_TGZ=/path/kit.tar.gz    the kit (default: next to this script; or this script lives inside an unpacked kit)
#   JOBS=16                     parallel compiles (default: nproc, at most 16)
#   FLASHMLA_KIT_PREFILL=1      also build the sm90 sparse prefill (flash_mla_sparse_fwd); off by default
#   FLASHMLA_KIT_NO_MODEL1=1    skip the MODEL1 (d_qk=512) sparse decode instances (they then raise)
#   FLASHMLA_KIT_FP16=1         also build the fp16 dense decode (default: -DFLASH_MLA_DISABLE_FP16, bf16 only)
#   FORCE=1                     recompile everything
#   DRY_RUN=1                   check that every source is in the kit and print the compile commands
#   CUDA_HOME, PYTHON, CXX      toolchain overrides (defaults: torch's CUDA_HOME or /usr/local/cuda, python3, c++)
set -euo pipefail
T0=$(date +%s)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${FLASHMLA_HEAD_BUILD:-/tmp/flashmla-head}
PY=${PYTHON:-python3}
CXX=${CXX:-c++}
NPROC=$(nproc 2>/dev/null || echo 8)
JOBS=${JOBS:-$(( NPROC < 16 ? NPROC : 16 ))}
mkdir -p "$BUILD"

# ---- 1. the kit -----------------------------------------------------------------------------
if [ -d "$HERE/FlashMLA/csrc" ]; then
    KIT=$HERE
else
    KIT_TGZ=${KIT_TGZ:-$HERE/kit.tar.gz}
    [ -f "$KIT_TGZ" ] || { echo "build.sh: no kit at $KIT_TGZ" >&2; exit 2; }
    KIT=$BUILD/kit
    SUM=$(cksum < "$KIT_TGZ" | cut -d' ' -f1)
    if [ ! -f "$KIT/.unpacked-$SUM" ]; then
        rm -rf "$KIT"; mkdir -p "$KIT"
        tar -xzf "$KIT_TGZ" -C "$KIT" --strip-components=1
        touch "$KIT/.unpacked-$SUM"
    fi
fi
SRC=$KIT/FlashMLA
[ -f "$SRC/csrc/api/api.cpp" ] && [ -f "$SRC/csrc/cutlass/include/cute/tensor.hpp" ] \
    || { echo "build.sh: kit at $KIT is incomplete" >&2; exit 2; }

# ---- 2. toolchain and torch ------------------------------------------------------------------
TORCH_ENV=$("$PY" - <<'EOF'
import os, sysconfig, shlex
import torch, torch.utils.cpp_extension as ce
def paths(fn):
    for kw in ({"device_type": "cuda"}, {"cuda": True}, {}):
        try:
            return fn(**kw)
        except Exception:
            pass
    return []
inc, lib = paths(ce.include_paths), paths(ce.library_paths)
if not inc:  # torch's own dirs at least; CUDA's are added by build.sh
    t = os.path.join(os.path.dirname(torch.__file__), "include")
    inc = [t, os.path.join(t, "torch", "csrc", "api", "include")]
if not lib:
    lib = [os.path.join(os.path.dirname(torch.__file__), "lib")]
flags = []
for name in ("_get_glibcxx_abi_build_flags",):
    f = getattr(ce, name, None)
    if f is not None:
        try: flags += list(f())
        except Exception: pass
print("TORCH_INC=%s" % shlex.quote(" ".join(inc)))
print("TORCH_LIB=%s" % shlex.quote(" ".join(lib)))
print("TORCH_ABI_FLAGS=%s" % shlex.quote(" ".join(flags)))
print("TORCH_CUDA_HOME=%s" % shlex.quote(ce.CUDA_HOME or ""))
print("PY_INC=%s" % shlex.quote(sysconfig.get_paths()["include"]))
print("PY_VER=%s" % shlex.quote(sysconfig.get_python_version()))
print("EXT_SUFFIX=%s" % shlex.quote(sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
print("TORCH_VER=%s" % shlex.quote(torch.__version__))
EOF
) || { echo "build.sh: could not query torch with $PY" >&2; exit 2; }
eval "$TORCH_ENV"
CUDA_HOME=${CUDA_HOME:-${TORCH_CUDA_HOME:-/usr/local/cuda}}
NVCC=$CUDA_HOME/bin/nvcc
[ -x "$NVCC" ] || NVCC=$(command -v nvcc)
if [ ! -f "$PY_INC/Python.h" ]; then
    if [ -f "/usr/include/python$PY_VER/Python.h" ]; then PY_INC=/usr/include/python$PY_VER
    elif [ -f "$KIT/pyinclude/python$PY_VER/Python.h" ]; then PY_INC=$KIT/pyinclude/python$PY_VER
        echo "build.sh: no Python.h for python$PY_VER here; using the kit's copy (CPython 3.12.1 headers)"
    else echo "build.sh: Python.h for python$PY_VER not found" >&2; exit 2; fi
fi
CUDA_INC="-I$CUDA_HOME/include"
[ -d "$CUDA_HOME/include/cccl" ] && CUDA_INC="$CUDA_INC -I$CUDA_HOME/include/cccl"
echo "build.sh: $("$NVCC" --version | tail -1) | torch $TORCH_VER | python $PY_VER | $JOBS jobs"

# ---- 3. what to compile (setup.py's list, restricted; see README.md) ------------------------
FEAT_FLAGS=""
[ "${FLASHMLA_KIT_FP16:-0}" = 1 ] || FEAT_FLAGS="-DFLASH_MLA_DISABLE_FP16"
STUB_FLAGS=""
CU_FILES=(
    # longest first: sparse FP8 decode (V3.2 = d_qk 576) and dense bf16 decode
    csrc/sm90/decode/sparse_fp8/instantiations/v32_persistent_h128.cu
    csrc/sm90/decode/sparse_fp8/instantiations/v32_persistent_h64.cu
    csrc/sm90/decode/dense/instantiations/bf16.cu
)
if [ "${FLASHMLA_KIT_NO_MODEL1:-0}" = 1 ]; then
    STUB_FLAGS="$STUB_FLAGS -DKIT_STUB_SM90_MODEL1"
else
    CU_FILES+=(csrc/sm90/decode/sparse_fp8/instantiations/model1_persistent_h128.cu
               csrc/sm90/decode/sparse_fp8/instantiations/model1_persistent_h64.cu)
fi
[ "${FLASHMLA_KIT_FP16:-0}" = 1 ] && CU_FILES+=(csrc/sm90/decode/dense/instantiations/fp16.cu)
if [ "${FLASHMLA_KIT_PREFILL:-0}" = 1 ]; then
    STUB_FLAGS="$STUB_FLAGS -DKIT_HAVE_SM90_PREFILL"
    CU_FILES+=(csrc/sm90/prefill/sparse/instantiations/phase1_k576.cu
               csrc/sm90/prefill/sparse/instantiations/phase1_k576_topklen.cu
               csrc/sm90/prefill/sparse/instantiations/phase1_k512.cu
               csrc/sm90/prefill/sparse/instantiations/phase1_k512_topklen.cu
               csrc/sm90/prefill/sparse/fwd.cu)
fi
CU_FILES+=(
    csrc/smxx/decode/combine/combine.cu
    csrc/smxx/decode/get_decoding_sched_meta/get_decoding_sched_meta.cu
)
CPP_FILES=(csrc/api/api.cpp ../flashmla_kit_stubs.cpp)

# ---- 4. flags: setup.py's, plus what torch's BuildExtension adds --------------------------
INCS="-I$SRC/csrc -I$SRC/csrc/kerutils/include -I$SRC/csrc/sm90 -I$SRC/csrc/cutlass/include -I$SRC/csrc/cutlass/tools/util/include"
for d in $TORCH_INC; do INCS="$INCS -I$d"; done
INCS="$INCS $CUDA_INC -I$PY_INC"
EXT_DEFS="-DTORCH_API_INCLUDE_EXTENSION_H -DTORCH_EXTENSION_NAME=cuda $TORCH_ABI_FLAGS"
NVCC_FLAGS="-D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__ -D__CUDA_NO_BFLOAT16_CONVERSIONS__ -D__CUDA_NO_HALF2_OPERATORS__ --expt-relaxed-constexpr --compiler-options -fPIC \
 -O3 -std=c++20 -DNDEBUG -D_USE_MATH_DEFINES -Wno-deprecated-declarations \
 -U__CUDA_NO_HALF_OPERATORS__ -U__CUDA_NO_HALF_CONVERSIONS__ -U__CUDA_NO_HALF2_OPERATORS__ -U__CUDA_NO_BFLOAT16_CONVERSIONS__ \
 --expt-relaxed-constexpr --expt-extended-lambda --use_fast_math \
 --ptxas-options=-v,--register-usage-level=10,--warn-on-spills,--warn-on-local-memory-usage,--warn-on-double-precision-use \
 -lineinfo --source-in-ptx $FEAT_FLAGS -gencode arch=compute_90a,code=sm_90a"
CXX_FLAGS="-fPIC -O3 -std=c++20 -DNDEBUG -Wno-deprecated-declarations $FEAT_FLAGS"

OPTS_KEY=$(echo "$NVCC_FLAGS|$CXX_FLAGS|$STUB_FLAGS|$TORCH_VER|$SRC" | cksum | cut -d' ' -f1)
OBJ=$BUILD/obj-$OPTS_KEY
mkdir -p "$OBJ"
[ "${FORCE:-0}" = 1 ] && rm -f "$OBJ"/*.o

export SRC OBJ NVCC CXX NVCC_FLAGS CXX_FLAGS STUB_FLAGS INCS EXT_DEFS
compile_one() {
    local rel=$1 name src t0 rc
    name=$(echo "$rel" | sed 's#^\.\./##; s#^csrc/##; s#/#_#g; s#\.[^.]*$##')
    src=$SRC/$rel
    [ -f "$src" ] || { echo "  MISSING  $src"; return 1; }
    if [ "${DRY_RUN:-0}" = 1 ]; then
        case "$rel" in
            *.cu)  echo "$NVCC -c $src -o $OBJ/$name.o $NVCC_FLAGS $INCS $EXT_DEFS" ;;
            *.cpp) echo "$CXX -c $src -o $OBJ/$name.o $CXX_FLAGS $STUB_FLAGS $INCS $EXT_DEFS" ;;
        esac
        return 0
    fi
    [ -f "$OBJ/$name.o" ] && { echo "  cached   $rel"; return 0; }
    t0=$(date +%s)
    set +e
    case "$rel" in
        *.cu)  "$NVCC" -c "$src" -o "$OBJ/$name.o.tmp" $NVCC_FLAGS $INCS $EXT_DEFS > "$OBJ/$name.log" 2>&1 ;;
        *.cpp) "$CXX" -c "$src" -o "$OBJ/$name.o.tmp" $CXX_FLAGS $STUB_FLAGS $INCS $EXT_DEFS > "$OBJ/$name.log" 2>&1 ;;
    esac
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        echo "  FAILED   $rel (rc=$rc); last lines of $OBJ/$name.log:"; tail -n 30 "$OBJ/$name.log"; return 1
    fi
    mv "$OBJ/$name.o.tmp" "$OBJ/$name.o"
    echo "  $(printf '%4ss' $(( $(date +%s) - t0 ))) $rel"
}
export -f compile_one

echo "build.sh: compiling ${#CU_FILES[@]} .cu + ${#CPP_FILES[@]} .cpp into $OBJ"
printf '%s\n' "${CU_FILES[@]}" "${CPP_FILES[@]}" | xargs -P "$JOBS" -I{} bash -c 'compile_one "$1"' _ {} \
    || { echo "build.sh: compile failed after $(( $(date +%s) - T0 ))s" >&2; exit 1; }
[ "${DRY_RUN:-0}" = 1 ] && { echo "build.sh: DRY_RUN: all sources present; nothing compiled"; exit 0; }
# ptxas spill / local-memory warnings, as setup.py would show them
grep -h -E "spill stores|Local memory|warning" "$OBJ"/*.log 2>/dev/null | grep -v -E " 0 bytes spill stores, 0 bytes spill loads" | sort | uniq -c | head -20 || true

# ---- 5. link the extension and lay out the package -------------------------------------------
PKG=$BUILD/pkg
rm -rf "$PKG/flash_mla"; mkdir -p "$PKG/flash_mla"
cp "$SRC"/flash_mla/*.py "$PKG/flash_mla/"
LIBDIRS=""
for d in $TORCH_LIB; do LIBDIRS="$LIBDIRS -L$d"; done
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib"; do [ -d "$d" ] && LIBDIRS="$LIBDIRS -L$d"; done
"$CXX" -shared -o "$PKG/flash_mla/cuda$EXT_SUFFIX" "$OBJ"/*.o $LIBDIRS \
    -lc10 -ltorch -ltorch_cpu -ltorch_python -lcudart -lc10_cuda -ltorch_cuda
echo "build.sh: linked $PKG/flash_mla/cuda$EXT_SUFFIX ($(du -h "$PKG/flash_mla/cuda$EXT_SUFFIX" | cut -f1))"

# ---- 6. import check --------------------------------------------------------------------------
PYTHONPATH=$PKG${PYTHONPATH:+:$PYTHONPATH} "$PY" -c "
import torch, flash_mla, flash_mla.cuda as m
print('build.sh: import ok:', m.__file__, [n for n in dir(m) if not n.startswith('_')])
"
echo "build.sh: done in $(( $(date +%s) - T0 ))s. Use: export PYTHONPATH=$PKG:\$PYTHONPATH"
