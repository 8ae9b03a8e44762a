// PtxasFixtures: ptxas info logs for the report tests.
/// Program logs captured from real NVRTC 13.0 compiles (`--ptxas-options=-v`) on this project's test kernels.
enum PtxasFixtures {
    /// Two kernels for sm_80: `small_kernel` (`extern "C"`, 4 KiB static smem) and the mangled `spill_kernel<512>`, which spills.
    static let twoKernelsSM80 = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function '_Z12spill_kernelILi512EEvPfPKf' for 'sm_80'
        ptxas info    : Function properties for _Z12spill_kernelILi512EEvPfPKf
        ptxas         .     3232 bytes stack frame, 1744 bytes spill stores, 1744 bytes spill loads
        ptxas info    : Used 255 registers, used 0 barriers, 3232 bytes cumulative stack size, 368 bytes cmem[0]
        ptxas info    : Compile time = 219.619 ms
        ptxas info    : Compiling entry function 'small_kernel' for 'sm_80'
        ptxas info    : Function properties for small_kernel
        ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 10 registers, used 1 barriers, 4096 bytes smem, 372 bytes cmem[0]
        ptxas info    : Compile time = 1.463 ms
        """

    /// The same two kernels for sm_90a with `-maxrregcount=32`: more spilling, no `cmem[0]` figures.
    static let maxrregcountSM90a = """
        ptxas info    : Overriding maximum register limit 256 for '_Z12spill_kernelILi512EEvPfPKf' with  32 of maxrregcount option
        ptxas info    : Overriding maximum register limit 256 for 'small_kernel' with  32 of maxrregcount option
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function '_Z12spill_kernelILi512EEvPfPKf' for 'sm_90a'
        ptxas info    : Function properties for _Z12spill_kernelILi512EEvPfPKf
        ptxas         .     5104 bytes stack frame, 4804 bytes spill stores, 5912 bytes spill loads
        ptxas info    : Used 32 registers, used 0 barriers, 5104 bytes cumulative stack size
        ptxas info    : Compile time = 263.566 ms
        ptxas info    : Compiling entry function 'small_kernel' for 'sm_90a'
        ptxas info    : Function properties for small_kernel
        ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 10 registers, used 1 barriers, 4096 bytes smem
        ptxas info    : Compile time = 2.169 ms
        """

    /// One kernel for sm_80 calling a `__noinline__` device function, with a `__constant__` array (`cmem[3]`).
    static let deviceFunctionSM80 = """
        ptxas info    : 0 bytes gmem, 256 bytes cmem[3]
        ptxas info    : Compiling entry function 'uses_helper' for 'sm_80'
        ptxas info    : Function properties for uses_helper
        ptxas         .     160 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 40 registers, used 1 barriers, 160 bytes cumulative stack size, 364 bytes cmem[0]
        ptxas info    : Compile time = 3.952 ms
        ptxas info    : Function properties for _Z6helperPfi
        ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        """
}
