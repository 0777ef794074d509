#include "cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>

/// XCR0, the register in which the OS declares which register states it saves on context switches.
static unsigned long long xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

int dpo_dist_cpu_supports_avx512(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    // XGETBV is only available when the OS has enabled XSAVE (OSXSAVE).
    const unsigned int leaf1 = bit_OSXSAVE | bit_FMA;
    if ((ecx & leaf1) != leaf1) return 0;
    // Bits 1 (SSE), 2 (AVX), 5 (opmask k0-k7), 6 (upper halves of zmm0-15), 7 (zmm16-31).
    const unsigned long long states = 0xE6;
    if ((xcr0() & states) != states) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    const unsigned int leaf7 = bit_AVX2 | bit_AVX512F | bit_AVX512CD | bit_AVX512BW | bit_AVX512DQ | bit_AVX512VL;
    return (ebx & leaf7) == leaf7;
}

int dpo_dist_cpu_supports_avx512bf16(void) {
    if (!dpo_dist_cpu_supports_avx512()) return 0;
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || eax < 1) return 0;  // eax: the highest sub-leaf
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return 0;
    return (eax >> 5) & 1;
}
#else
int dpo_dist_cpu_supports_avx512(void) { return 0; }
int dpo_dist_cpu_supports_avx512bf16(void) { return 0; }
#endif
