# torch-env.sh - sourced by the benchmarks: tell the BLAS under PyTorch its
# CPU family (Debian's OpenBLAS and BLIS fall back to generic kernels on
# CPUs they do not know) and say which; sets TORCH_BLAS to a description.
# $GEMM: tests/bench-gemm, whose REPS 0 prints BLIS_ARCH_TYPE as lr chooses it.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null)
case "$blas" in
*openblas*)
    if grep -q avx512f /proc/cpuinfo; then OPENBLAS_CORETYPE=SkylakeX; else OPENBLAS_CORETYPE=Haswell; fi
    export OPENBLAS_CORETYPE
    TORCH_BLAS="OpenBLAS ($blas), OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" ;;
*blis*)
    eval "$("$GEMM" 1 0)"
    export BLIS_ARCH_TYPE
    TORCH_BLAS="BLIS ($blas), BLIS_ARCH_TYPE=$BLIS_ARCH_TYPE" ;;
*)
    TORCH_BLAS="${blas:-unknown BLAS}" ;;
esac
