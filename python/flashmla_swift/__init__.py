"""FlashMLA's Python API on swift-flash-mla.

A drop-in for ``flash_mla``: ``get_mla_metadata`` and ``flash_mla_with_kvcache`` with the
same arguments, shapes, dtypes and return values (sparse decoding and attention sinks
included), on torch CUDA tensors, or CPU tensors on the library's CPU backend. The work runs in
``libFlashMLASwiftC.so`` (Swift, Swift runtime linked in statically; kernels compiled by
NVRTC at run time), called through ctypes: nothing is compiled when this package is
installed or imported.

Every call runs on the tensors' device and torch's current stream of that device,
allocates its outputs with torch, and never waits for the GPU (except in a call that creates
or grows the device's workspace). Calls can be captured in a
torch CUDA graph once a call with the same shapes (or larger ones) has run on the device
outside capture: that first call compiles and loads the kernels and sizes the device's
workspace, which never grows during capture (a capture that would need a larger one
raises instead). A workspace used by a captured graph is kept alive for the life of the
process; a later, larger eager call gets a new one.

Errors raise :class:`FlashMLASwiftError` (a ``RuntimeError``, as FlashMLA's checks are)
carrying the library's message; bad arguments raise :class:`InvalidArgumentError`, which is
also a ``ValueError``.

The shared library is found at ``$FLASHMLA_SWIFT_LIB`` or beside this file.
"""
import ctypes
import os
import site
import struct
import sys
import threading
from typing import Dict, List, Optional, Tuple

import torch

__all__ = [
    "FlashMLASchedMeta",
    "get_mla_metadata",
    "flash_mla_with_kvcache",
    "quantize_fp8_per_tensor",
    "quantize_fp8_ds_mla",
    "dequantize_fp8_ds_mla",
    "quantize_model1",
    "dequantize_model1",
    "FlashMLASwiftError",
    "InvalidArgumentError",
    "UnsupportedDeviceError",
    "BackendError",
    "NoDeviceError",
    "abi_version",
    "library_path",
    "__version__",
]

ABI_VERSION = 1  # FLASHMLA_SWIFT_ABI_VERSION this package was written against
_LIBRARY_NAME = "libFlashMLASwiftC.so"
_MAX_RANK = 8

# ---- Errors ---------------------------------------------------------------------------


class FlashMLASwiftError(RuntimeError):
    """A failed call; ``status`` is the C ABI's status code, ``str(error)`` its message."""

    def __init__(self, message: str, status: int = 3):
        super().__init__(message)
        self.status = status


class InvalidArgumentError(FlashMLASwiftError, ValueError):
    """An argument's shape, stride, dtype, device, alignment or value is not accepted (status 1)."""


class UnsupportedDeviceError(FlashMLASwiftError):
    """The device cannot run the kernels, e.g. compute capability below 8.0 (status 2)."""


class BackendError(FlashMLASwiftError):
    """The CUDA driver or NVRTC failed (status 3)."""


class NoDeviceError(FlashMLASwiftError):
    """No usable CUDA driver, or no device of that ordinal (status 4)."""


_ERRORS = {1: InvalidArgumentError, 2: UnsupportedDeviceError, 3: BackendError, 4: NoDeviceError}

# ---- The library ----------------------------------------------------------------------


def library_path() -> str:
    """The shared library this package loads: ``$FLASHMLA_SWIFT_LIB`` or the one beside it."""
    explicit = os.environ.get("FLASHMLA_SWIFT_LIB")
    if explicit:
        return explicit
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIBRARY_NAME)


def _hint_nvrtc_search() -> None:
    # The library looks for libnvrtc in the CUDA toolkit and in the nvidia-cuda-nvrtc wheel
    # under site-packages folders; name this interpreter's folders so that it finds the
    # wheel torch itself depends on.
    if os.environ.get("FLASHMLA_PYTHON_SITE"):
        return
    folders: List[str] = []
    try:
        folders += site.getsitepackages()
    except AttributeError:  # some virtualenvs
        pass
    try:
        folders.append(site.getusersitepackages())
    except AttributeError:
        pass
    folders += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    seen, unique = set(), []
    for folder in folders:
        if folder and folder not in seen and os.path.isdir(folder):
            seen.add(folder)
            unique.append(folder)
    if unique:
        os.environ["FLASHMLA_PYTHON_SITE"] = ":".join(unique)


def _load() -> ctypes.CDLL:
    path = library_path()
    if not os.path.exists(path):
        raise ImportError(
            f"flashmla_swift: {path} not found. Build it with python/build.sh (needs a Swift 6 "
            f"toolchain) or point $FLASHMLA_SWIFT_LIB at a built {_LIBRARY_NAME}."
        )
    _hint_nvrtc_search()
    lib = ctypes.CDLL(path)
    vp, i32, i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
    lib.flashmla_swift_abi_version.argtypes = []
    lib.flashmla_swift_abi_version.restype = i32
    lib.flashmla_swift_version.argtypes = []
    lib.flashmla_swift_version.restype = ctypes.c_char_p
    lib.flashmla_swift_last_error.argtypes = []
    lib.flashmla_swift_last_error.restype = ctypes.c_char_p
    lib.flashmla_swift_num_sm_parts.argtypes = [i32, i64, i64, ctypes.POINTER(i64)]
    lib.flashmla_swift_num_sm_parts.restype = ctypes.c_int
    lib.flashmla_swift_get_metadata.argtypes = [i32, vp, vp, i64, i64, vp, vp]
    lib.flashmla_swift_get_metadata.restype = ctypes.c_int
    lib.flashmla_swift_decode.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, ctypes.c_float, i32, vp, vp, vp]
    lib.flashmla_swift_decode.restype = ctypes.c_int
    if not hasattr(lib, "flashmla_swift_decode_kv"):
        raise ImportError(f"flashmla_swift: {path} predates flashmla_swift_decode_kv (FP8 caches): rebuild it")
    lib.flashmla_swift_decode_kv.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, ctypes.c_float, i32, i32,
                                             ctypes.c_float, vp, vp, vp]
    lib.flashmla_swift_decode_kv.restype = ctypes.c_int
    if not hasattr(lib, "flashmla_swift_decode_sparse"):
        raise ImportError(f"flashmla_swift: {path} predates flashmla_swift_decode_sparse (sparse decoding, "
                          f"attention sinks, the validate functions): rebuild it")
    f32 = ctypes.c_float
    lib.flashmla_swift_validate_metadata.argtypes = [i32, vp, i64, i64]
    lib.flashmla_swift_validate_metadata.restype = ctypes.c_int
    lib.flashmla_swift_get_sparse_metadata.argtypes = [i32, vp, vp, vp, i64, vp, vp]
    lib.flashmla_swift_get_sparse_metadata.restype = ctypes.c_int
    lib.flashmla_swift_validate_decode.argtypes = [i32, vp, vp, vp, vp, vp, vp, i64, f32, i32, i32, f32, vp]
    lib.flashmla_swift_validate_decode.restype = ctypes.c_int
    lib.flashmla_swift_validate_sparse_decode.argtypes = [i32, vp, vp, vp, vp, vp, vp, i64, f32, i32, vp]
    lib.flashmla_swift_validate_sparse_decode.restype = ctypes.c_int
    lib.flashmla_swift_decode_kv_sink.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, f32, i32, i32, f32, vp, vp, vp, vp]
    lib.flashmla_swift_decode_kv_sink.restype = ctypes.c_int
    lib.flashmla_swift_decode_sparse.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, f32, i32, vp, vp, vp, vp]
    lib.flashmla_swift_get_sparse_metadata_v2.argtypes = [i32, vp, vp, vp, vp, vp, i64, vp, vp]
    lib.flashmla_swift_get_sparse_metadata_v2.restype = i32
    lib.flashmla_swift_validate_sparse_decode_v2.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, vp, vp, i64, f32, i32, vp]
    lib.flashmla_swift_validate_sparse_decode_v2.restype = i32
    lib.flashmla_swift_decode_sparse_v2.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, vp, vp, vp, i64, f32, i32, vp, vp,
                                                    vp, vp]
    lib.flashmla_swift_decode_sparse_v2.restype = i32
    lib.flashmla_swift_decode_sparse.restype = ctypes.c_int
    lib.flashmla_swift_workspace_create.argtypes = [i32, ctypes.POINTER(vp)]
    lib.flashmla_swift_workspace_create.restype = ctypes.c_int
    lib.flashmla_swift_workspace_reserve.argtypes = [vp, i64, i64]
    lib.flashmla_swift_workspace_reserve.restype = ctypes.c_int
    lib.flashmla_swift_workspace_destroy.argtypes = [vp]
    lib.flashmla_swift_workspace_destroy.restype = None
    found = lib.flashmla_swift_abi_version()
    if found != ABI_VERSION:
        raise ImportError(f"flashmla_swift: {path} has ABI version {found}, this package needs {ABI_VERSION}")
    return lib


_lib = _load()
__version__ = _lib.flashmla_swift_version().decode()


def abi_version() -> int:
    """``flashmla_swift_abi_version()`` of the loaded library."""
    return int(_lib.flashmla_swift_abi_version())


def _check(status: int) -> None:
    if status != 0:
        message = _lib.flashmla_swift_last_error().decode(errors="replace")
        raise _ERRORS.get(status, FlashMLASwiftError)(message, status)


# ---- Tensor descriptors ---------------------------------------------------------------

# flashmla_swift_tensor: uint64 data; int32 dtype; int32 rank; int64 shape[8]; int64 strides[8].
_DESCRIPTOR = struct.Struct("=Qii8q8q")
assert _DESCRIPTOR.size == 144
_DTYPE_CODES = {torch.bfloat16: 1, torch.float16: 2, torch.float32: 3, torch.int32: 4, torch.uint8: 6}
if hasattr(torch, "float8_e4m3fn"):
    _DTYPE_CODES[torch.float8_e4m3fn] = 5
# kv_cache_dtype → FLASHMLA_SWIFT_KV_* (flashmla_swift.h).
_KV_FORMATS = {"auto": 0, "fp8_e4m3": 1, "fp8_ds_mla": 2, "fp8_model1": 3}
_MODEL1 = 3
_ZEROS = (0,) * _MAX_RANK


def _invalid(argument: str, expected: str, given: str) -> InvalidArgumentError:
    # The library's wording, for the checks only Python can make.
    return InvalidArgumentError(f"invalid argument '{argument}': expected {expected}, given {given}", 1)


class _Descriptors:
    """``flashmla_swift_tensor`` records for one call, in one buffer."""

    __slots__ = ("buffer", "base", "count")

    def __init__(self, count: int):
        self.buffer = (ctypes.c_char * (_DESCRIPTOR.size * count))()
        self.base = ctypes.addressof(self.buffer)
        self.count = 0

    def add(self, tensor, argument: str, device: torch.device, expected_dtype: str) -> int:
        if not isinstance(tensor, torch.Tensor):
            raise _invalid(argument, "a torch.Tensor", type(tensor).__name__)
        if tensor.device != device:
            raise _invalid(argument, f"a tensor on {device}", f"a tensor on {tensor.device}")
        code = _DTYPE_CODES.get(tensor.dtype)
        if code is None:
            raise _invalid(argument, expected_dtype, str(tensor.dtype).replace("torch.", ""))
        rank = tensor.dim()
        if rank > _MAX_RANK:
            raise _invalid(argument, f"rank at most {_MAX_RANK}", f"rank {rank}")
        pad = _ZEROS[: _MAX_RANK - rank]
        offset = _DESCRIPTOR.size * self.count
        _DESCRIPTOR.pack_into(self.buffer, offset, tensor.data_ptr(), code, rank,
                              *tensor.shape, *pad, *tensor.stride(), *pad)
        self.count += 1
        return self.base + offset


# FLASHMLA_SWIFT_DEVICE_CPU: tensors in host memory, run by the library's CPU backend.
_CPU = -1


def _device_of(tensor, argument: str) -> Tuple[torch.device, int]:
    """The tensor's device and the library's device argument for it: the CUDA ordinal, or
    ``_CPU`` for a CPU tensor."""
    if not isinstance(tensor, torch.Tensor):
        raise _invalid(argument, "a torch.Tensor", type(tensor).__name__)
    if tensor.device.type == "cuda":
        return tensor.device, tensor.device.index
    if tensor.device.type == "cpu":
        return tensor.device, _CPU
    raise _invalid(argument, "a CUDA or CPU tensor", f"a tensor on {tensor.device}")


def _optional(descriptors: "_Descriptors", tensor, argument: str, device: torch.device, expected_dtype: str):
    """The descriptor of an optional argument, or None (NULL) for None."""
    return None if tensor is None else descriptors.add(tensor, argument, device, expected_dtype)


class _OnDevice:
    """Makes `index` torch's current device for the call when it is not already, so that the
    library (which makes the device's primary context current) leaves torch's current device
    as it was."""

    __slots__ = ("index", "previous")

    def __init__(self, index: int):
        self.index = index
        self.previous = -1

    def __enter__(self):
        if self.index == _CPU:
            return self
        current = torch.cuda.current_device()
        if current != self.index:
            self.previous = current
            torch.cuda.set_device(self.index)
        return self

    def __exit__(self, *exc):
        if self.previous >= 0:
            torch.cuda.set_device(self.previous)
        return False


# ---- Per-device state -----------------------------------------------------------------

_lock = threading.Lock()
_sm_parts: Dict[Tuple[int, int, int], int] = {}


class _Workspace:
    """One device's workspace: split accumulators sized for the largest call so far."""

    __slots__ = ("handle", "device", "capacity_rows", "captured", "last_stream")

    def __init__(self, device: int):
        handle = ctypes.c_void_p()
        _check(_lib.flashmla_swift_workspace_create(device, ctypes.byref(handle)))
        self.handle = handle.value
        self.device = device
        self.capacity_rows = 0
        self.captured = False
        self.last_stream: Optional[torch.cuda.Stream] = None

    def __del__(self):
        if getattr(self, "handle", None) and not sys.is_finalizing():
            _lib.flashmla_swift_workspace_destroy(self.handle)
        self.handle = None


_workspaces: Dict[int, _Workspace] = {}
_kept_for_graphs: List[_Workspace] = []  # captured graphs still point into these


def _num_sm_parts(device: int, num_heads_per_head_k: int, num_heads_k: int) -> int:
    key = (device, num_heads_per_head_k, num_heads_k)
    parts = _sm_parts.get(key)
    if parts is None:
        value = ctypes.c_int64()
        _check(_lib.flashmla_swift_num_sm_parts(device, num_heads_per_head_k, num_heads_k, ctypes.byref(value)))
        parts = _sm_parts.setdefault(key, int(value.value))
    return parts


def _workspace_for(device: int, needed_rows: int, stream: torch.cuda.Stream, capturing: bool) -> _Workspace:
    """The workspace for a decode of `needed_rows` accumulator rows on `stream`; call with
    `_lock` held. The library grows it (after validating the call) where it is too small;
    Python only mirrors its size, ``(b + num_sm_parts) * h_q * s_q`` rows, the library's
    `MLAMetadata.maxTotalSplits * queryRows`."""
    workspace = _workspaces.get(device)
    if workspace is None or workspace.capacity_rows < needed_rows:
        if capturing:
            have = 0 if workspace is None else workspace.capacity_rows
            raise FlashMLASwiftError(
                f"flash_mla_with_kvcache: during CUDA graph capture this call needs a workspace of "
                f"{needed_rows} rows on cuda:{device}, which holds {have}: run it once with these shapes "
                f"(or larger ones) on this device before capturing", 1)
        if workspace is None or workspace.captured:
            # A captured graph points into the old one: keep it, and let this call grow a new one.
            if workspace is not None:
                _kept_for_graphs.append(workspace)
            workspace = _Workspace(device)
            _workspaces[device] = workspace
    if capturing:
        workspace.captured = True
    else:
        # Calls on different streams share the accumulators: order this one after the last.
        last = workspace.last_stream
        if last is not None and last != stream:
            stream.wait_stream(last)
        workspace.last_stream = stream
    return workspace


# ---- FlashMLA's API -------------------------------------------------------------------


class FlashMLASchedMeta:
    """FlashMLA's schedule object (its calling convention since 2025-09): ``get_mla_metadata()``
    returns an empty one, the first ``flash_mla_with_kvcache`` call that receives it computes the
    split-KV schedule for its ``cache_seqlens`` (sparse: ``topk_length``) and shapes (queued on
    torch's current stream, no host synchronization; it allocates the two schedule tensors, so
    make that call outside CUDA graph capture), and later calls reuse it. A first call that
    fails leaves it empty. As in FlashMLA, a later call must keep the shapes (checked: a
    different one raises ``InvalidArgumentError`` naming it) and the values of ``cache_seqlens``
    and ``topk_length`` (not checked: that would need the host to read the device)."""

    __slots__ = ("have_initialized", "config", "tile_scheduler_metadata", "num_splits")

    def __init__(self):
        self.have_initialized = False
        self.config: Optional[Dict[str, object]] = None
        self.tile_scheduler_metadata: Optional[torch.Tensor] = None
        self.num_splits: Optional[torch.Tensor] = None

    def __repr__(self):
        return f"FlashMLASchedMeta(have_initialized={self.have_initialized}, config={self.config})"


def get_mla_metadata(*args, **kwargs):
    """
    Two forms, as FlashMLA's two interfaces:

    ``get_mla_metadata()`` returns ``(FlashMLASchedMeta(), None)``: an empty schedule that the
    first ``flash_mla_with_kvcache`` call fills (FlashMLA's current interface; the only one for
    sparse decoding).

    ``get_mla_metadata(cache_seqlens, num_heads_per_head_k, num_heads_k)`` (FlashMLA's earlier
    interface):
        cache_seqlens: (batch_size), dtype torch.int32, on a CUDA device (or the CPU).
        num_heads_per_head_k: Equals to seq_len_q * num_heads_q // num_heads_k.
        num_heads_k: num_heads_k.
    returns
        tile_scheduler_metadata: (num_sm_parts, 8), dtype torch.int32.
        num_splits: (batch_size + 1), dtype torch.int32.
    both written on the device by a kernel queued on torch's current stream.
    """
    if not args and not kwargs:
        return FlashMLASchedMeta(), None
    return _schedule(*args, **kwargs)


def _schedule(
    cache_seqlens: torch.Tensor,
    num_heads_per_head_k: int,
    num_heads_k: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The earlier interface's ``get_mla_metadata``."""
    device, index = _device_of(cache_seqlens, "cacheSeqlens")
    heads, kv_heads = int(num_heads_per_head_k), int(num_heads_k)
    descriptors = _Descriptors(3)
    seqlens = descriptors.add(cache_seqlens, "cacheSeqlens", device, "int32")
    if cache_seqlens.dim() != 1 or cache_seqlens.dtype != torch.int32 or heads < 1 or kv_heads < 1:
        # The library's message, before anything is allocated (or a device looked up) for arguments it rejects.
        _check(_lib.flashmla_swift_validate_metadata(index, seqlens, heads, kv_heads))
        raise _invalid("cacheSeqlens", "int32[b]", f"shape {list(cache_seqlens.shape)}")
    with _OnDevice(index):
        parts = _num_sm_parts(index, heads, kv_heads)
        schedule = torch.empty((parts, 8), dtype=torch.int32, device=device)
        splits = torch.empty((cache_seqlens.shape[0] + 1,), dtype=torch.int32, device=device)
        _check(_lib.flashmla_swift_get_metadata(
            index, _stream_handle(device, index), seqlens, heads, kv_heads,
            descriptors.add(schedule, "tileSchedulerMetadata", device, "int32"),
            descriptors.add(splits, "numSplits", device, "int32")))
    return schedule, splits


def _sparse_schedule(indices: torch.Tensor, topk_length: Optional[torch.Tensor], num_heads_q: int,
                     device: torch.device, index: int, extra_indices: Optional[torch.Tensor] = None,
                     extra_topk_length: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """The schedule of a sparse decode (indices already checked to be 3-D): each request's
    count of index entries, ``topk_length[i]`` or topk, over s_q * h_q rows of the one KV head;
    with an extra cache's lists, FlashMLA's count: the main list padded to 64-entry blocks, then
    the extra list."""
    descriptors = _Descriptors(6)
    indices_d = descriptors.add(indices, "indices", device, "int32")
    lengths_d = _optional(descriptors, topk_length, "topkLength", device, "int32")
    extra_d = _optional(descriptors, extra_indices, "extraIndices", device, "int32")
    extra_lengths_d = _optional(descriptors, extra_topk_length, "extraTopkLength", device, "int32")
    with _OnDevice(index):
        parts = _num_sm_parts(index, indices.shape[1] * num_heads_q, 1)
        schedule = torch.empty((parts, 8), dtype=torch.int32, device=device)
        splits = torch.empty((indices.shape[0] + 1,), dtype=torch.int32, device=device)
        _check(_lib.flashmla_swift_get_sparse_metadata_v2(
            index, _stream_handle(device, index), indices_d, lengths_d, extra_d, extra_lengths_d, num_heads_q,
            descriptors.add(schedule, "tileSchedulerMetadata", device, "int32"),
            descriptors.add(splits, "numSplits", device, "int32")))
    return schedule, splits


def _stream_handle(device: torch.device, index: int):
    """torch's current stream of a CUDA device, as a CUstream; None on the CPU."""
    return None if index == _CPU else torch.cuda.current_stream(device).cuda_stream


def flash_mla_with_kvcache(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: Optional[torch.Tensor],
    cache_seqlens: Optional[torch.Tensor],
    head_dim_v: int,
    tile_scheduler_metadata,
    num_splits: Optional[torch.Tensor] = None,
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    is_fp8_kvcache: bool = False,
    indices: Optional[torch.Tensor] = None,
    attn_sink: Optional[torch.Tensor] = None,
    extra_k_cache: Optional[torch.Tensor] = None,
    extra_indices_in_kvcache: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    extra_topk_length: Optional[torch.Tensor] = None,
    *,
    kv_cache_dtype: str = "auto",
    k_scale: Optional[float] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Arguments:
        q: (batch_size, seq_len_q, num_heads_q, head_dim), bfloat16 or float16.
        k_cache: (num_blocks, page_block_size, num_heads_k, head_dim), q's dtype; any
            page_block_size from 1 to 256 (token t of a request is slot t % page_block_size of
            block block_table[t // page_block_size]). With kv_cache_dtype:
            "fp8_e4m3": torch.float8_e4m3fn, the same shape;
            "fp8_ds_mla": torch.uint8 (or float8_e4m3fn bytes) (num_blocks, page_block_size, 1, 656).
        block_table: (batch_size, max_num_blocks_per_seq), torch.int32. Not read (may be None)
            with indices.
        cache_seqlens: (batch_size), torch.int32. Not read (may be None) with indices.
        head_dim_v: Head dimension of v (512).
        tile_scheduler_metadata: a FlashMLASchedMeta from get_mla_metadata() (then num_splits
            must be None; required with indices), or the (num_sm_parts, 8) torch.int32 tensor of
            the earlier interface.
        num_splits: (batch_size + 1), torch.int32, from the earlier get_mla_metadata; None with a
            FlashMLASchedMeta.
        softmax_scale: float. The scale of QK^T before applying softmax. Default to 1 / sqrt(head_dim).
        causal: bool. Whether to apply causal attention mask. Must be False with indices.
        is_fp8_kvcache: FlashMLA's flag for DeepSeek-V3.2's 656-byte FP8 cache; True means
            kv_cache_dtype="fp8_ds_mla" unless kv_cache_dtype names another FP8 format.
        indices: (batch_size, seq_len_q, topk), torch.int32: sparse decoding (DeepSeek-V3.2's
            DSA). Query token j of request i attends to the cache slots indices[i, j, :]
            (page * page_block_size + offset; -1 skipped), with no causal mask. FlashMLA needs
            is_fp8_kvcache=True here; this package also reads a k_cache in q's dtype (h_k = 1).
        attn_sink: (num_heads_q,), torch.float32: each output row of head h is multiplied by
            exp(lse) / (exp(lse) + exp(attn_sink[h])); the returned lse is unchanged; +inf
            gives 0. With or without indices (FlashMLA: with indices only).
        topk_length: (batch_size,), torch.int32, with indices: only indices[i, :, :topk_length[i]]
            count (each value in 0 ... topk).
        extra_k_cache: FlashMLA's extra cache (MODEL1 only): torch.uint8 (num_blocks_extra,
            extra_page_block_size, 1, 584) in the MODEL1 layout with its own page size (1 ... 256).
        extra_indices_in_kvcache: (batch_size, seq_len_q, extra_topk), torch.int32, required with
            extra_k_cache: slots page * extra_page_block_size + offset of extra_k_cache, -1 skipped.
            Their valid slots are more keys of the same softmax (one lse over both lists).
        extra_topk_length: (batch_size,), torch.int32, with extra_k_cache: only
            extra_indices_in_kvcache[i, :, :extra_topk_length[i]] count (each in 0 ... extra_topk).
        kv_cache_dtype: "auto" (k_cache in q's dtype), "fp8_e4m3" (per-tensor FP8: a value is
            code * k_scale; not with indices) or "fp8_ds_mla" (DeepSeek-V3.2's 656 bytes a token:
            512 E4M3 codes, 4 float32 scales, one per 128 codes, 64 bfloat16 RoPE values; NoPE
            values are code * scale rounded to q's dtype). Not in FlashMLA. As FlashMLA picks
            the model by q's head dim, a sparse call with is_fp8_kvcache (or "fp8_ds_mla") and a
            q of head dim 512 reads FlashMLA HEAD's MODEL1 cache ("fp8_model1" names it too):
            torch.uint8 (num_blocks, page_block_size, 1, 584), each page grouped (token t's 448
            E4M3 codes and 64 bfloat16 RoPE values at byte t * 576, its 7 UE8M0 scales at
            page_block_size * 576 + t * 8; quantize_model1 writes it); V is all 512 values and
            the default softmax_scale 1 / sqrt(512).
        k_scale: the per-tensor scale of "fp8_e4m3" (a float or a one-element tensor, read on
            the host; default 1.0); must be None for the other formats.

    Returns:
        out: (batch_size, seq_len_q, num_heads_q, head_dim_v), q's dtype.
        softmax_lse: (batch_size, num_heads_q, seq_len_q), torch.float32 (natural log;
            +inf for a row that sees no key).

    q, k_cache, block_table and indices may be strided (innermost stride 1; q's and k_cache's
    other strides multiples of 8 elements); cache_seqlens, topk_length, attn_sink and the
    metadata must be contiguous. CUDA tensors run on the GPU, CPU tensors on the library's CPU
    backend.
    """
    sparse = indices is not None
    if topk_length is not None and not sparse:
        raise _invalid("topk_length", "None without indices (it counts index entries)", "a tensor")
    for name, value in (("extra_k_cache", extra_k_cache), ("extra_indices_in_kvcache", extra_indices_in_kvcache),
                        ("extra_topk_length", extra_topk_length)):
        if value is not None and not sparse:
            raise _invalid(name, "None without indices (the extra cache is sparse decoding's)", "a tensor")
    if sparse and causal:
        raise _invalid("causal", "False with indices (sparse decoding has no causal mask)", "True")
    if is_fp8_kvcache and kv_cache_dtype == "auto":
        kv_cache_dtype = "fp8_ds_mla"
    kv_format = _KV_FORMATS.get(kv_cache_dtype)
    if kv_format is None:
        raise _invalid("kv_cache_dtype", '"auto", "fp8_e4m3", "fp8_ds_mla" or "fp8_model1"', repr(kv_cache_dtype))
    if sparse and kv_cache_dtype == "fp8_ds_mla" and isinstance(q, torch.Tensor) and q.dim() == 4 and q.shape[-1] == 512:
        kv_format, kv_cache_dtype = _MODEL1, "fp8_model1"   # FlashMLA: d_qk = 512 is MODEL1
    if k_scale is not None and kv_format != 1:
        raise _invalid("k_scale", f'None for kv_cache_dtype="{kv_cache_dtype}"', repr(k_scale))
    scale_k = 1.0 if k_scale is None else float(k_scale)
    call = _Call(q, k_cache, block_table, cache_seqlens, int(head_dim_v), softmax_scale, bool(causal),
                 kv_format, scale_k, indices, topk_length, attn_sink,
                 (extra_k_cache, extra_indices_in_kvcache, extra_topk_length))
    if not isinstance(tile_scheduler_metadata, FlashMLASchedMeta):
        if sparse:
            raise _invalid("tile_scheduler_metadata", "a FlashMLASchedMeta from get_mla_metadata() with indices",
                           type(tile_scheduler_metadata).__name__)
        return call.run(tile_scheduler_metadata, num_splits)
    meta = tile_scheduler_metadata
    if num_splits is not None:
        raise _invalid("num_splits", "None with a FlashMLASchedMeta", "a tensor")
    first = not meta.have_initialized
    try:
        schedule, splits = _filled(meta, call, kv_cache_dtype)
        return call.run(schedule, splits)
    except BaseException:
        if first:  # a failed first call leaves the schedule empty
            FlashMLASchedMeta.__init__(meta)
        raise


class _Call:
    """One flash_mla_with_kvcache call's arguments, after the checks only Python makes."""

    __slots__ = ("q", "k_cache", "block_table", "cache_seqlens", "head_dim_v", "scale", "causal", "kv_format",
                 "k_scale", "indices", "topk_length", "attn_sink", "extra", "device", "index", "descriptors", "d")

    def __init__(self, q, k_cache, block_table, cache_seqlens, head_dim_v, scale, causal, kv_format, k_scale,
                 indices, topk_length, attn_sink, extra=(None, None, None)):
        self.device, self.index = _device_of(q, "q")
        self.q, self.k_cache, self.block_table, self.cache_seqlens = q, k_cache, block_table, cache_seqlens
        if scale is None:  # FlashMLA's default, 1 / sqrt(head_dim)
            scale = (q.shape[-1] if q.dim() else 576) ** (-0.5)
        self.head_dim_v, self.scale, self.causal, self.kv_format, self.k_scale = \
            head_dim_v, float(scale), causal, kv_format, k_scale
        self.indices, self.topk_length, self.attn_sink = indices, topk_length, attn_sink
        self.extra = extra   # (extra_k_cache, extra_indices_in_kvcache, extra_topk_length)
        self.descriptors = _Descriptors(13)
        add = self.descriptors.add
        device = self.device
        self.d = {"q": add(q, "q", device, "bfloat16 or float16"),
                  "kCache": add(k_cache, "kCache", device, "bfloat16, float16, float8_e4m3fn or uint8"),
                  "attnSink": _optional(self.descriptors, attn_sink, "attnSink", device, "float32")}
        if indices is not None:
            self.d["indices"] = add(indices, "indices", device, "int32")
            self.d["topkLength"] = _optional(self.descriptors, topk_length, "topkLength", device, "int32")
            for key, tensor, dtype in zip(("extraKCache", "extraIndices", "extraTopkLength"), extra,
                                          ("uint8 or float8_e4m3fn", "int32", "int32")):
                self.d[key] = _optional(self.descriptors, tensor, key, device, dtype)
        else:
            self.d["blockTable"] = add(block_table, "blockTable", device, "int32")
            self.d["cacheSeqlens"] = add(cache_seqlens, "cacheSeqlens", device, "int32")

    @property
    def sparse(self) -> bool:
        return self.indices is not None

    def config(self, kv_cache_dtype: str) -> Dict[str, object]:
        """FlashMLA's FlashMLASchedMeta.Config: what a schedule object is reused for."""
        return {"b": self.q.shape[0], "s_q": self.q.shape[1], "h_q": self.q.shape[2],
                "page_block_size": self.k_cache.shape[1], "h_k": self.k_cache.shape[2], "causal": self.causal,
                "kv_cache_dtype": kv_cache_dtype, "topk": self.indices.shape[-1] if self.sparse else None,
                "extra_topk": self.extra[1].shape[-1] if self.extra[1] is not None and self.extra[1].dim() else None,
                "extra_page_block_size": self.extra[0].shape[1] if self.extra[0] is not None and self.extra[0].dim() > 1
                else None}

    def validate(self) -> None:
        """The library's check of these inputs alone (and of the schedule once ``run`` has added
        it), with no outputs and nothing queued: raises its error. For arguments whose shapes do
        not say what to allocate."""
        d = self.d
        schedule, splits = d.get("tileSchedulerMetadata"), d.get("numSplits")
        if self.sparse:
            status = _lib.flashmla_swift_validate_sparse_decode_v2(
                self.index, d["q"], d["kCache"], d["indices"], d["topkLength"], d["extraKCache"], d["extraIndices"],
                d["extraTopkLength"], schedule, splits, self.head_dim_v, self.scale, self.kv_format, d["attnSink"])
        else:
            status = _lib.flashmla_swift_validate_decode(
                self.index, d["q"], d["kCache"], d["blockTable"], d["cacheSeqlens"], schedule, splits,
                self.head_dim_v, self.scale, 1 if self.causal else 0, self.kv_format, self.k_scale, d["attnSink"])
        _check(status)

    def can_allocate(self) -> bool:
        """Whether the output shapes (and a sparse schedule) can be read from the arguments;
        when not, ``validate`` names the argument at fault."""
        shapes_known = self.q.dim() == 4 and self.head_dim_v == 512
        return shapes_known and (not self.sparse or (isinstance(self.indices, torch.Tensor) and self.indices.dim() == 3))

    def run(self, tile_scheduler_metadata, num_splits) -> Tuple[torch.Tensor, torch.Tensor]:
        device, index, d = self.device, self.index, self.d
        d["tileSchedulerMetadata"] = self.descriptors.add(tile_scheduler_metadata, "tileSchedulerMetadata", device, "int32")
        d["numSplits"] = self.descriptors.add(num_splits, "numSplits", device, "int32")
        if not self.can_allocate() or tile_scheduler_metadata.dim() != 2:
            # Outputs (or the workspace's size) cannot be read from these shapes: the library names the fault.
            self.validate()
            raise _invalid("q", "rank 4 [b, s_q, h_q, 576], head_dim_v 512 and a 2-D tile_scheduler_metadata",
                           f"shape {list(self.q.shape)}, head_dim_v {self.head_dim_v}")
        b, s_q, h_q = self.q.shape[0], self.q.shape[1], self.q.shape[2]
        with _OnDevice(index):
            out = torch.empty((b, s_q, h_q, self.head_dim_v), dtype=self.q.dtype, device=device)
            lse = torch.empty((b, h_q, s_q), dtype=torch.float32, device=device)
            d["out"] = self.descriptors.add(out, "out", device, "bfloat16 or float16")
            d["lse"] = self.descriptors.add(lse, "lse", device, "float32")
            if index == _CPU:
                self._decode(None, None)
                return out, lse
            stream = torch.cuda.current_stream(device)
            capturing = torch.cuda.is_current_stream_capturing()
            needed_rows = (b + tile_scheduler_metadata.shape[0]) * h_q * s_q
            with _lock:
                workspace = _workspace_for(index, needed_rows, stream, capturing)
                self._decode(stream.cuda_stream, workspace.handle)
                workspace.capacity_rows = max(workspace.capacity_rows, needed_rows)
        return out, lse

    def _decode(self, stream, workspace) -> None:
        d = self.d
        if self.sparse:
            status = _lib.flashmla_swift_decode_sparse_v2(
                self.index, stream, d["q"], d["kCache"], d["indices"], d["topkLength"], d["extraKCache"],
                d["extraIndices"], d["extraTopkLength"], d["tileSchedulerMetadata"], d["numSplits"], self.head_dim_v,
                self.scale, self.kv_format, d["attnSink"], d["out"], d["lse"], workspace)
        else:
            status = _lib.flashmla_swift_decode_kv_sink(
                self.index, stream, d["q"], d["kCache"], d["blockTable"], d["cacheSeqlens"],
                d["tileSchedulerMetadata"], d["numSplits"], self.head_dim_v, self.scale, 1 if self.causal else 0,
                self.kv_format, self.k_scale, d["attnSink"], d["out"], d["lse"], workspace)
        _check(status)


def _filled(meta: FlashMLASchedMeta, call: _Call, kv_cache_dtype: str):
    """The schedule tensors of `meta`: computed for this call's lengths and shapes the first time
    (queued on torch's current stream), then checked against the shapes it was made for."""
    for name, tensor in (("q", call.q), ("k_cache", call.k_cache)) + ((("indices", call.indices),) if call.sparse else ()):
        if tensor.dim() != (3 if name == "indices" else 4):
            call.validate()  # the library names the argument at fault
            raise _invalid(name, f"a rank-{3 if name == 'indices' else 4} tensor", f"shape {list(tensor.shape)}")
    config = call.config(kv_cache_dtype)
    if not meta.have_initialized:
        if call.index != _CPU and torch.cuda.is_current_stream_capturing():
            raise FlashMLASwiftError(
                "flash_mla_with_kvcache: the first call with a FlashMLASchedMeta allocates its schedule; "
                "make it before CUDA graph capture", 1)
        if call.sparse:
            extra_cache, extra_indices, extra_lengths = call.extra
            if extra_cache is None and (extra_indices is not None or extra_lengths is not None):
                call.validate()  # the library names the extra argument given without its cache
            if extra_indices is not None and (not isinstance(extra_indices, torch.Tensor) or extra_indices.dim() != 3):
                call.validate()
                raise _invalid("extra_indices_in_kvcache", "a rank-3 tensor", repr(extra_indices))
            meta.tile_scheduler_metadata, meta.num_splits = _sparse_schedule(
                call.indices, call.topk_length, int(config["h_q"]), call.device, call.index,
                extra_indices if extra_cache is not None else None, extra_lengths if extra_cache is not None else None)
        else:
            h_k = max(int(config["h_k"]), 1)
            meta.tile_scheduler_metadata, meta.num_splits = _schedule(
                call.cache_seqlens, int(config["s_q"]) * int(config["h_q"]) // h_k, int(config["h_k"]))
        meta.config, meta.have_initialized = config, True
    else:
        for key, value in config.items():
            if meta.config.get(key) != value:
                raise _invalid("tile_scheduler_metadata",
                               f"a call with the {key} it was made for ({meta.config.get(key)}); reuse a "
                               f"FlashMLASchedMeta only with the same shapes", str(value))
    return meta.tile_scheduler_metadata, meta.num_splits


# ---- FP8 quantizers (host or device, torch only) ---------------------------------------

_E4M3_MAX = 448.0


def quantize_fp8_per_tensor(k_cache: torch.Tensor, k_scale: Optional[float] = None) -> Tuple[torch.Tensor, float]:
    """A per-tensor FP8 copy of ``k_cache`` for ``kv_cache_dtype="fp8_e4m3"``.

    Returns ``(codes, k_scale)``: ``codes`` = E4M3(k_cache / k_scale) as torch.float8_e4m3fn
    (rounded to nearest even, saturated to ±448), ``k_scale`` = max|k_cache| / 448 unless given
    (1.0 for an all-zero cache). NaN stays NaN.
    """
    if k_scale is None:
        largest = float(k_cache.float().nan_to_num(0.0).abs().max()) if k_cache.numel() else 0.0
        k_scale = largest / _E4M3_MAX if largest > 0 else 1.0
    scaled = (k_cache.float() / k_scale).clamp(-_E4M3_MAX, _E4M3_MAX)
    return scaled.to(torch.float8_e4m3fn), float(k_scale)


def quantize_fp8_ds_mla(k_cache: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V3.2's FP8 layout of ``k_cache`` [num_blocks, page_block_size, 1, 576] for
    ``kv_cache_dtype="fp8_ds_mla"``: torch.uint8 [num_blocks, page_block_size, 1, 656].

    Per token: for each group of 128 of the first 512 values, scale = max|x| / 448 (float32),
    codes E4M3(x / scale) (zero codes for a group of zeros); the 4 scales as float32; the last
    64 values as bfloat16.
    """
    if k_cache.dim() != 4 or k_cache.shape[2] != 1 or k_cache.shape[3] != 576:
        raise _invalid("k_cache", "[num_blocks, page_block_size, 1, 576]", f"shape {list(k_cache.shape)}")
    blocks, page = k_cache.shape[0], k_cache.shape[1]
    x = k_cache.float().reshape(-1, 576)
    nope = x[:, :512].reshape(-1, 4, 128)
    scales = nope.abs().amax(dim=-1) / _E4M3_MAX                       # [tokens, 4]
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    codes = (nope / safe[..., None]).clamp(-_E4M3_MAX, _E4M3_MAX).to(torch.float8_e4m3fn)
    codes = torch.where((scales > 0)[..., None], codes.view(torch.uint8), torch.zeros_like(codes.view(torch.uint8)))
    rope = x[:, 512:].to(torch.bfloat16).contiguous()
    out = torch.cat([codes.reshape(-1, 512),
                     scales.contiguous().view(torch.uint8).reshape(-1, 16),
                     rope.view(torch.uint8).reshape(-1, 128)], dim=1)
    return out.reshape(blocks, page, 1, 656)


def dequantize_fp8_ds_mla(cache: torch.Tensor, dtype=None) -> torch.Tensor:
    """The values the decode computes with for a ``"fp8_ds_mla"`` cache: [..., 1, 576] in
    ``dtype`` (q's dtype; default torch.bfloat16): NoPE code * scale as float32 rounded to
    ``dtype``, RoPE bf16 rounded to it."""
    dtype = torch.bfloat16 if dtype is None else dtype
    raw = cache.view(torch.uint8).reshape(-1, 656)
    codes = raw[:, :512].contiguous().view(torch.float8_e4m3fn).float().reshape(-1, 4, 128)
    scales = raw[:, 512:528].contiguous().view(torch.float32)           # [tokens, 4]
    nope = (codes * scales[..., None]).reshape(-1, 512).to(dtype)
    rope = raw[:, 528:].contiguous().view(torch.bfloat16).to(dtype)
    return torch.cat([nope, rope], dim=1).reshape(*cache.shape[:-1], 576)


# ---- FlashMLA HEAD's MODEL1 cache (d_qk = 512) ---------------------------------------

_MODEL1_NOPE, _MODEL1_DATA, _MODEL1_TOKEN = 448, 576, 584


def quantize_model1(k_cache: torch.Tensor) -> torch.Tensor:
    """FlashMLA HEAD's MODEL1 layout of ``k_cache`` [num_blocks, page_block_size, 1, 512] (448
    NoPE then 64 RoPE values) for a sparse call with a q of head dim 512: torch.uint8
    [num_blocks, page_block_size, 1, 584], as FlashMLA's tests/quant.py writes it.

    Per token and 64-value group of the NoPE part: scale = 2 ** ceil(log2(max(amax / 448, 1e-4)))
    stored as its UE8M0 byte (log2(scale) + 127), codes E4M3(x / scale); RoPE as bfloat16. Each page
    groups its tokens: token t's 448 codes and 64 RoPE values (576 bytes) at byte t * 576, its 7
    scale bytes and a zero at page_block_size * 576 + t * 8. The result is a strided view of pages
    ceil(page_block_size * 584 / 576) * 576 bytes apart (16-byte aligned, as the GPU needs).
    """
    if k_cache.dim() != 4 or k_cache.shape[2] != 1 or k_cache.shape[3] != 512:
        raise _invalid("k_cache", "[num_blocks, page_block_size, 1, 512]", f"shape {list(k_cache.shape)}")
    blocks, page = k_cache.shape[0], k_cache.shape[1]
    x = k_cache.float().reshape(blocks, page, 512)
    nope = x[..., :_MODEL1_NOPE].reshape(blocks, page, 7, 64)
    ratio = (nope.abs().amax(dim=-1) / _E4M3_MAX).clamp(min=1e-4)
    mantissa, exponent = torch.frexp(ratio)                       # ratio = m * 2**e, m in [0.5, 1)
    exponent = exponent - (mantissa == 0.5).to(exponent.dtype)     # ceil(log2(ratio)), exactly
    exponent = torch.where(torch.isfinite(ratio), exponent, torch.full_like(exponent, 127)).clamp(-127, 127)
    scale = torch.pow(2.0, exponent.float())
    codes = (nope / scale[..., None]).clamp(-_E4M3_MAX, _E4M3_MAX).to(torch.float8_e4m3fn).view(torch.uint8)
    rope = x[..., _MODEL1_NOPE:].to(torch.bfloat16).contiguous().view(torch.uint8)        # [blocks, page, 128]
    data = torch.cat([codes.reshape(blocks, page, _MODEL1_NOPE), rope], dim=-1)           # [blocks, page, 576]
    scales = torch.cat([(exponent + 127).to(torch.uint8), torch.zeros(blocks, page, 1, dtype=torch.uint8,
                                                                       device=k_cache.device)], dim=-1)
    page_bytes = (page * _MODEL1_TOKEN + _MODEL1_DATA - 1) // _MODEL1_DATA * _MODEL1_DATA
    storage = torch.zeros(blocks, page_bytes, dtype=torch.uint8, device=k_cache.device)
    storage[:, : page * _MODEL1_DATA] = data.reshape(blocks, page * _MODEL1_DATA)
    storage[:, page * _MODEL1_DATA: page * _MODEL1_DATA + page * 8] = scales.reshape(blocks, page * 8)
    return storage.as_strided((blocks, page, 1, _MODEL1_TOKEN), (page_bytes, _MODEL1_TOKEN, _MODEL1_TOKEN, 1))


def dequantize_model1(cache: torch.Tensor, dtype=None) -> torch.Tensor:
    """The values the decode computes with for a MODEL1 cache (any page stride): [num_blocks,
    page_block_size, 1, 512] in ``dtype`` (q's dtype; default torch.bfloat16): NoPE code * 2 **
    (scale byte - 127) as float32 rounded to ``dtype`` (a scale byte of 255 is NaN), RoPE bf16
    rounded to it. K and V are both these 512 values."""
    dtype = torch.bfloat16 if dtype is None else dtype
    blocks, page = cache.shape[0], cache.shape[1]
    raw = cache.view(torch.uint8)
    pages = torch.as_strided(raw, (blocks, page * _MODEL1_TOKEN), (raw.stride(0), 1))
    data = pages[:, : page * _MODEL1_DATA].reshape(blocks, page, _MODEL1_DATA)
    scale_bytes = pages[:, page * _MODEL1_DATA: page * _MODEL1_DATA + page * 8].reshape(blocks, page, 8)[..., :7]
    factors = torch.pow(2.0, scale_bytes.float() - 127)
    factors = torch.where(scale_bytes == 255, torch.full_like(factors, float("nan")), factors)
    codes = data[..., :_MODEL1_NOPE].contiguous().view(torch.float8_e4m3fn).float().reshape(blocks, page, 7, 64)
    nope = (codes * factors[..., None]).reshape(blocks, page, _MODEL1_NOPE).to(dtype)
    rope = data[..., _MODEL1_NOPE:].contiguous().view(torch.bfloat16).to(dtype)
    return torch.cat([nope, rope], dim=-1).reshape(blocks, page, 1, 512)
