// TestKernels: small hand-written PTX kernels the GPU tests launch.
/// Small hand-written PTX kernels for the GPU tests (the driver JIT-compiles PTX, so no CUDA
/// compiler is needed to run them). Each image ends with a NUL byte, as `cuModuleLoadData` wants.
enum TestKernels {
    /// `iota_u32(out, base, n)`: `out[i] = base + i`; `probe_params(...)` copies its mixed-size
    /// parameters (including a 64-byte aligned 128-byte blob) to `out` so the host can check them;
    /// `probe_global`, an initialized 32-bit global (as a kernel exports its shared-memory size).
    static let basic = """
    .version 7.0
    .target sm_70
    .address_size 64

    .visible .global .align 4 .u32 probe_global = 231952;

    .visible .entry iota_u32(
        .param .u64 iota_out,
        .param .u32 iota_base,
        .param .u32 iota_n
    )
    {
        .reg .pred %p<2>;
        .reg .b32 %r<8>;
        .reg .b64 %rd<6>;

        ld.param.u64 %rd1, [iota_out];
        ld.param.u32 %r1, [iota_base];
        ld.param.u32 %r2, [iota_n];
        mov.u32 %r3, %ctaid.x;
        mov.u32 %r4, %ntid.x;
        mov.u32 %r5, %tid.x;
        mad.lo.s32 %r6, %r3, %r4, %r5;
        setp.ge.u32 %p1, %r6, %r2;
        @%p1 bra IOTA_DONE;
        cvta.to.global.u64 %rd2, %rd1;
        mul.wide.u32 %rd3, %r6, 4;
        add.s64 %rd4, %rd2, %rd3;
        add.s32 %r7, %r1, %r6;
        st.global.u32 [%rd4], %r7;
    IOTA_DONE:
        ret;
    }

    .visible .entry probe_params(
        .param .u64 probe_out,
        .param .u8 probe_a,
        .param .f32 probe_b,
        .param .u64 probe_c,
        .param .align 64 .b8 probe_map[128],
        .param .u16 probe_d
    )
    {
        .reg .b16 %rs<3>;
        .reg .b32 %r<8>;
        .reg .f32 %f<2>;
        .reg .b64 %rd<4>;

        ld.param.u64 %rd1, [probe_out];
        cvta.to.global.u64 %rd2, %rd1;
        ld.param.u8 %rs1, [probe_a];
        cvt.u32.u16 %r1, %rs1;
        st.global.u32 [%rd2], %r1;
        ld.param.f32 %f1, [probe_b];
        st.global.f32 [%rd2+4], %f1;
        ld.param.u64 %rd3, [probe_c];
        st.global.u64 [%rd2+8], %rd3;
        ld.param.u32 %r2, [probe_map+4];
        st.global.u32 [%rd2+16], %r2;
        ld.param.u32 %r3, [probe_map+124];
        st.global.u32 [%rd2+20], %r3;
        ld.param.u16 %rs2, [probe_d];
        cvt.u32.u16 %r4, %rs2;
        st.global.u32 [%rd2+24], %r4;
        ret;
    }
    """

    /// Hopper kernels: `cluster_probe(out)` writes each block's cluster size to `out[blockIdx.x]`;
    /// `tma_probe(out, map, x, y)` loads one 2-D box of 32-bit words with the tensor map at (x, y)
    /// and writes its first 32 words to `out` (launch with 32 threads).
    static let hopper = """
    .version 8.0
    .target sm_90
    .address_size 64

    .visible .entry cluster_probe(
        .param .u64 cluster_out
    )
    {
        .reg .b32 %r<4>;
        .reg .b64 %rd<5>;

        ld.param.u64 %rd1, [cluster_out];
        cvta.to.global.u64 %rd2, %rd1;
        mov.u32 %r1, %ctaid.x;
        mov.u32 %r2, %cluster_nctarank;
        mul.wide.u32 %rd3, %r1, 4;
        add.s64 %rd4, %rd2, %rd3;
        st.global.u32 [%rd4], %r2;
        ret;
    }

    .visible .entry tma_probe(
        .param .u64 tma_out,
        .param .align 64 .b8 tma_map[128],
        .param .u32 tma_x,
        .param .u32 tma_y
    )
    {
        .reg .pred %p<3>;
        .reg .b32 %r<12>;
        .reg .b64 %rd<10>;
        .shared .align 128 .b8 tma_smem[128];
        .shared .align 8 .b64 tma_bar;

        mov.u32 %r1, %tid.x;
        mov.u32 %r2, tma_smem;
        mov.u32 %r3, tma_bar;
        setp.ne.u32 %p1, %r1, 0;
        @%p1 bra TMA_SYNC;
        mbarrier.init.shared::cta.b64 [%r3], 1;
        fence.proxy.async.shared::cta;
        mbarrier.arrive.expect_tx.shared::cta.b64 %rd7, [%r3], 128;
        mov.b64 %rd1, tma_map;
        cvta.param.u64 %rd2, %rd1;
        ld.param.u32 %r4, [tma_x];
        ld.param.u32 %r5, [tma_y];
        cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%r2], [%rd2, {%r4, %r5}], [%r3];
    TMA_SYNC:
        bar.sync 0;
        mov.u32 %r6, 0;
    TMA_WAIT:
        mbarrier.try_wait.parity.shared::cta.b64 %p2, [%r3], %r6;
        @!%p2 bra TMA_WAIT;
        shl.b32 %r7, %r1, 2;
        add.u32 %r8, %r2, %r7;
        ld.shared.u32 %r9, [%r8];
        ld.param.u64 %rd3, [tma_out];
        cvta.to.global.u64 %rd4, %rd3;
        mul.wide.u32 %rd5, %r1, 4;
        add.s64 %rd6, %rd4, %rd5;
        st.global.u32 [%rd6], %r9;
        ret;
    }
    """

    /// The NUL-terminated bytes of a PTX text.
    static func image(_ ptx: String) -> [UInt8] {
        Array(ptx.utf8) + [0]
    }
}
