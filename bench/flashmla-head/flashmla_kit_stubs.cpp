// swift-flash-mla comparison kit: stand-ins for the FlashMLA HEAD entry points that
// this kit does NOT compile (sm100 kernels, and by default the sm90 sparse prefill).
//
// FlashMLA's csrc/api/*.h reference every kernel family from one pybind11 module, and
// setup.py's FLASH_MLA_DISABLE_SM100 only drops the -gencode, not the sources. So that the
// module links without those sources, each missing template instance / function is defined
// here and raises a Python RuntimeError if called. On an H200 (sm_90a) the dispatch in
// csrc/api/sparse_decode.h and dense_decode.h never reaches any of them for decode.
// This file is ours (not FlashMLA's); it only includes FlashMLA's declaring headers.
#include <torch/extension.h>

#include "params.h"
#include "sm100/decode/head64/kernel.h"
#include "sm100/prefill/sparse/fwd_for_small_topk/head128/phase1.h"
#include "sm100/prefill/sparse/fwd/head64/phase1.h"
#include "sm100/prefill/sparse/fwd/head128/phase1.h"
#include "sm100/prefill/dense/interface.h"
#include "sm90/prefill/sparse/phase1.h"
#ifdef KIT_STUB_SM90_MODEL1
#include "sm90/decode/sparse_fp8/splitkv_mla.h"
#endif

#define KIT_NOT_BUILT(WHAT) \
    TORCH_CHECK(false, "[flashmla-head kit] ", WHAT, " was not compiled into this build " \
                "(bench/flashmla-head/build.sh builds only the sm90a decode kernels)")

namespace sm100::decode::head64 {
template<ModelType MODEL_TYPE>
void run_flash_splitkv_mla_fp8_sparse_kernel(const SparseAttnDecodeParams &) { KIT_NOT_BUILT("sm100 sparse decode (head64)"); }
template void run_flash_splitkv_mla_fp8_sparse_kernel<ModelType::V32>(const SparseAttnDecodeParams &);
template void run_flash_splitkv_mla_fp8_sparse_kernel<ModelType::MODEL1>(const SparseAttnDecodeParams &);
}

namespace sm100::fwd_for_small_topk::head128 {
template<SparseAttnFwdMode FWD_MODE, int D_QK>
void run_fwd_for_small_topk_phase1_kernel(const SparseFwdArgT<FWD_MODE> &) { KIT_NOT_BUILT("sm100 small-topk head128 kernel"); }
template void run_fwd_for_small_topk_phase1_kernel<SparseAttnFwdMode::DecodeWithSplitKV, 512>(const SparseAttnDecodeParams &);
template void run_fwd_for_small_topk_phase1_kernel<SparseAttnFwdMode::Prefill, 512>(const SparseAttnFwdParams &);
}

namespace sm100::fwd::head64 {
template<int D_QK>
void run_fwd_phase1_kernel(const SparseAttnFwdParams &) { KIT_NOT_BUILT("sm100 sparse prefill (head64)"); }
template void run_fwd_phase1_kernel<512>(const SparseAttnFwdParams &);
template void run_fwd_phase1_kernel<576>(const SparseAttnFwdParams &);
}

namespace sm100::fwd::head128 {
template<int D_QK>
void run_fwd_phase1_kernel(const SparseAttnFwdParams &) { KIT_NOT_BUILT("sm100 sparse prefill (head128)"); }
template void run_fwd_phase1_kernel<512>(const SparseAttnFwdParams &);
template void run_fwd_phase1_kernel<576>(const SparseAttnFwdParams &);
}

#ifndef KIT_HAVE_SM90_PREFILL
namespace sm90::fwd {
template<int D_QK, bool HAVE_TOPK_LENGTH>
void run_fwd_phase1_kernel(const SparseAttnFwdParams &) { KIT_NOT_BUILT("sm90 sparse prefill (flash_mla_sparse_fwd)"); }
template void run_fwd_phase1_kernel<512, false>(const SparseAttnFwdParams &);
template void run_fwd_phase1_kernel<512, true>(const SparseAttnFwdParams &);
template void run_fwd_phase1_kernel<576, false>(const SparseAttnFwdParams &);
template void run_fwd_phase1_kernel<576, true>(const SparseAttnFwdParams &);
}
#endif

#ifdef KIT_STUB_SM90_MODEL1
namespace sm90::decode::sparse_fp8 {
template<> void run_flash_splitkv_mla_fp8_sparse_kernel<ModelType::MODEL1, 64>(const SparseAttnDecodeParams &) { KIT_NOT_BUILT("sm90 MODEL1 (d_qk=512) sparse decode"); }
template<> void run_flash_splitkv_mla_fp8_sparse_kernel<ModelType::MODEL1, 128>(const SparseAttnDecodeParams &) { KIT_NOT_BUILT("sm90 MODEL1 (d_qk=512) sparse decode"); }
}
#endif

void FMHACutlassSM100FwdRun(at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                            at::Tensor, at::Tensor, int, float, int, int, bool) {
    KIT_NOT_BUILT("sm100 dense prefill (flash_attn_varlen_func)");
}

void FMHACutlassSM100BwdRun(at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                            at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                            int, float, int, int, bool) {
    KIT_NOT_BUILT("sm100 dense backward");
}
