#!/usr/bin/env python3
"""Medians and ratios of compare.sh's raw results (one JSON object per line).

  summarize.py RESULTS.jsonl      prints the step table (PyTorch vs dpo-dist) and, when present, the GEMM table
                                  (OpenBLAS vs dpo-dist), then the same as one JSON object.
  summarize.py --flatten-steps    turns a `dpo-dist bench --json` report on stdin into one line per step result
  summarize.py --flatten-gemm     ... into one line per GEMM result, in sgemm_openblas's fields
"""
import json
import statistics
import sys
from collections import defaultdict


def flatten(kind):
    report = json.load(sys.stdin)
    if kind == "steps":
        for step in report["steps"]:
            print(json.dumps({"kind": "step", "implementation": "dpo-dist", "shape": step["shape"],
                              "threads": step["threads"], "tokens_per_step": step["tokensPerStep"],
                              "median_step_seconds": step["medianStepSeconds"],
                              "median_cpu_seconds": step["medianCPUSeconds"],
                              "peak_rss_mb": report["peakResidentMegabytes"]}))
    else:
        for result in report["gemm"]:
            layer = result["layer"]
            print(json.dumps({"kind": "gemm", "library": "dpo-dist", "threads": result["threads"],
                              "product": result["product"], "rows": layer["rows"], "in": layer["inDim"],
                              "out": layer["outDim"], "gflops": result["gflops"], "cpu_gflops": result["cpuGFLOPS"],
                              "peak_gflops_per_core": report["peak"]["gflopsPerCore"]}))


def summarize(path):
    records = [json.loads(line) for line in open(path) if line.strip()]
    summary = {"steps": [], "gemm": []}

    steps = defaultdict(list)
    for record in (r for r in records if r["kind"] == "step"):
        steps[(record["shape"], record["threads"], record["implementation"])].append(record)
    for shape, threads in sorted({(s, t) for s, t, _ in steps}):
        torch_runs, swift_runs = steps.get((shape, threads, "pytorch"), []), steps.get((shape, threads, "dpo-dist"), [])
        if not torch_runs or not swift_runs:
            continue
        def median_of(runs, key):
            return statistics.median(run[key] for run in runs)
        row = {"shape": shape, "threads": threads, "runs": min(len(torch_runs), len(swift_runs)),
               "tokens_per_step": swift_runs[0]["tokens_per_step"],
               "pytorch_step_s": median_of(torch_runs, "median_step_seconds"),
               "pytorch_cpu_s": median_of(torch_runs, "median_cpu_seconds"),
               "dpo_dist_step_s": median_of(swift_runs, "median_step_seconds"),
               "dpo_dist_cpu_s": median_of(swift_runs, "median_cpu_seconds"),
               "pytorch_peak_rss_mb": max(run["peak_rss_mb"] for run in torch_runs),
               "dpo_dist_peak_rss_mb": max(run["peak_rss_mb"] for run in swift_runs)}
        row["speedup_wall"] = row["pytorch_step_s"] / row["dpo_dist_step_s"]
        row["speedup_cpu"] = row["pytorch_cpu_s"] / row["dpo_dist_cpu_s"]
        summary["steps"].append(row)

    gemm = defaultdict(list)
    for record in (r for r in records if r["kind"] == "gemm"):
        library = "openblas" if record["library"].startswith("openblas") else "dpo-dist"
        gemm[(record["rows"], record["in"], record["out"], record["product"], record["threads"], library)].append(record)
    for rows, inDim, outDim, product, threads in sorted({key[:5] for key in gemm}):
        blas, swift = gemm.get((rows, inDim, outDim, product, threads, "openblas")), \
            gemm.get((rows, inDim, outDim, product, threads, "dpo-dist"))
        if not blas or not swift:
            continue
        row = {"rows": rows, "in": inDim, "out": outDim, "product": product, "threads": threads,
               "openblas_core": blas[0]["library"],
               "openblas_cpu_gflops": statistics.median(r["cpu_gflops"] for r in blas),
               "dpo_dist_cpu_gflops": statistics.median(r["cpu_gflops"] for r in swift),
               "peak_gflops_per_core": statistics.median(r["peak_gflops_per_core"] for r in swift)}
        row["ratio"] = row["dpo_dist_cpu_gflops"] / row["openblas_cpu_gflops"]
        row["fraction_of_peak"] = row["dpo_dist_cpu_gflops"] / (row["peak_gflops_per_core"] * threads)
        summary["gemm"].append(row)

    if summary["steps"]:
        print("| shape | threads | runs | PyTorch step s (CPU s) | dpo-dist step s (CPU s) | speed-up wall (CPU) | peak RSS MB PyTorch / dpo-dist |")
        print("|---|---|---|---|---|---|---|")
        for row in summary["steps"]:
            print(f"| {row['shape']} | {row['threads']} | {row['runs']} | {row['pytorch_step_s']:.3f} ({row['pytorch_cpu_s']:.3f}) "
                  f"| {row['dpo_dist_step_s']:.3f} ({row['dpo_dist_cpu_s']:.3f}) | {row['speedup_wall']:.2f}× ({row['speedup_cpu']:.2f}×) "
                  f"| {row['pytorch_peak_rss_mb']:.0f} / {row['dpo_dist_peak_rss_mb']:.0f} |")
    if summary["gemm"]:
        print()
        print("| rows×in→out | product | threads | OpenBLAS GFLOP/s | dpo-dist GFLOP/s | ratio | of peak |")
        print("|---|---|---|---|---|---|---|")
        for row in summary["gemm"]:
            print(f"| {row['rows']}×{row['in']}→{row['out']} | {row['product']} | {row['threads']} "
                  f"| {row['openblas_cpu_gflops']:.1f} | {row['dpo_dist_cpu_gflops']:.1f} | {row['ratio']:.2f} "
                  f"| {100 * row['fraction_of_peak']:.0f}% |")
    print()
    print(json.dumps(summary))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("--flatten-steps", "--flatten-gemm"):
        flatten(sys.argv[1].removeprefix("--flatten-"))
    elif len(sys.argv) == 2:
        summarize(sys.argv[1])
    else:
        sys.exit(__doc__)
