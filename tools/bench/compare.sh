#!/usr/bin/env bash
# Runs PyTorch's DPO step and dpo-dist's on the same shapes, threads and batch, alternating, several times, then
# prints the medians and ratios (tools/bench/summarize.py). With --gemm, also times OpenBLAS sgemm against dpo-dist's
# GEMM on the GPT-2-124M step's GEMM shapes.
#
#   tools/bench/compare.sh [--threads T] [--repeats N] [--steps S] [--shapes "gpt2-124m small"] [--gemm]
#                          [--isa avx2] [--out DIR]
#
# --isa avx2 keeps all three sides to AVX2 + FMA on a CPU that has AVX-512: dpo-dist's GEMM (DPO_DIST_GEMM=avx2),
# PyTorch's MKL, oneDNN and ATen kernels (MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY) and
# OpenBLAS (Haswell kernels): a like-for-like comparison, and the closest this CPU gets to an AVX2-only machine such
# as CI's. Without it each side uses what it would pick on this CPU.
#
# Environment: PYTHON (default /tmp/oracle/venv/bin/python, needs torch + transformers), DPO_DIST (a built dpo-dist;
# default: build it with `swift build -c release`), OPENBLAS_CORETYPE (default: SkylakeX where the CPU has AVX-512F,
# else Haswell — OpenBLAS 0.3.21 does not recognise newer Xeons and would fall back to its SSE3 kernels).
set -euo pipefail
cd "$(dirname "$0")/../.."

threads=1 repeats=3 steps=3 shapes="gpt2-124m small" gemm=0 out="" isa=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --shapes) shapes="$2"; shift 2 ;;
        --gemm) gemm=1; shift ;;
        --isa) isa="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "compare.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
    esac
done

python="${PYTHON:-/tmp/oracle/venv/bin/python}"
torch_env=()
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then openblas_core=SkylakeX; else openblas_core=Haswell; fi
case "$isa" in
    "") ;;
    avx2) torch_env=(MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
          export DPO_DIST_GEMM=avx2
          openblas_core=Haswell ;;
    *) echo "compare.sh: --isa '$isa' is not supported (only avx2)" >&2; exit 2 ;;
esac
openblas_core="${OPENBLAS_CORETYPE:-$openblas_core}"
if [[ -z "${DPO_DIST:-}" ]]; then
    swift build -c release --product dpo-dist >&2
    DPO_DIST="$(swift build -c release --show-bin-path)/dpo-dist"
fi
out="${out:-$(mktemp -d)}"
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
echo "compare.sh: threads=$threads repeats=$repeats steps=$steps shapes=[$shapes] isa=${isa:-default} openblas=$openblas_core; raw results in $results" >&2

if [[ $gemm == 1 ]]; then
    cc -O2 -o "$out/sgemm_openblas" tools/bench/sgemm_openblas.c -lopenblas
    for ((run = 1; run <= repeats; run++)); do
        OPENBLAS_CORETYPE="$openblas_core" "$out/sgemm_openblas" "$threads" 5 \
            | sed 's/^{/{"kind": "gemm", /' >> "$results"
        "$DPO_DIST" bench --kernels-only --shape gpt2-124m --threads "$threads" --repeats 5 --json \
            | "$python" tools/bench/summarize.py --flatten-gemm >> "$results"
    done
fi

for ((run = 1; run <= repeats; run++)); do
    for shape in $shapes; do
        echo "run $run/$repeats: $shape" >&2
        env "${torch_env[@]}" "$python" tools/bench/pytorch_dpo_step.py --shape "$shape" --threads "$threads" --steps "$steps" \
            | sed 's/^{/{"kind": "step", /' >> "$results"
        "$DPO_DIST" bench --steps-only --shape "$shape" --threads "$threads" --steps "$steps" --json \
            | "$python" tools/bench/summarize.py --flatten-steps >> "$results"
    done
done

"$python" tools/bench/summarize.py "$results"
