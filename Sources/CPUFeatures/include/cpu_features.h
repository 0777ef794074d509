#pragma once
// CPU feature checks Swift cannot make itself (it has no CPUID or XGETBV).

/// 1 when the CPU has the AVX-512 level the GEMMAVX512 target is compiled for (skylake-avx512, i.e. x86-64-v4:
/// AVX-512 F, CD, BW, DQ and VL, on top of AVX2 and FMA) and the operating system saves and restores the AVX-512
/// registers (XCR0 has the SSE, AVX, opmask and both ZMM state bits set); 0 otherwise, and always 0 on other
/// architectures.
int dpo_dist_cpu_supports_avx512(void);

/// 1 when, on top of dpo_dist_cpu_supports_avx512(), the CPU has AVX512-BF16 (VDPBF16PS and the fp32 → bf16
/// conversions: CPUID leaf 7 sub-leaf 1, EAX bit 5; Intel Cooper Lake and Sapphire Rapids on, AMD Zen 4 on); 0
/// otherwise. The bf16 GEMM (Sources/GEMMBF16) needs it.
int dpo_dist_cpu_supports_avx512bf16(void);
