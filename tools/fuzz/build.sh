#!/usr/bin/env bash
# Builds one libFuzzer executable per parser of outside input (tools/fuzz/targets/*.swift) into .build-fuzz/:
# the library targets' own sources are compiled as modules with coverage instrumentation and AddressSanitizer
# (`-sanitize=fuzzer,address`), each target file is linked against them with libFuzzer's main.
# Usage: tools/fuzz/build.sh [target ...]   (default: every target). See tools/fuzz/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/.build-fuzz}
mkdir -p "$out/modules" "$out/objects"
flags=(-sanitize=fuzzer,address -parse-as-library -swift-version 5 -Onone -I "$out/modules")

# module: its sources folder and what it needs, in dependency order.
library() {  # name, extra flags...
  local name=$1; shift
  local sources=("$root/Sources/$name"/*.swift)
  local stamp="$out/modules/$name.stamp"
  if [[ -f $stamp ]] && [[ -z $(find "$root/Sources/$name" -newer "$stamp" -name '*.swift' | head -1) ]]; then return; fi
  echo "fuzz build: module $name" >&2
  swiftc "${flags[@]}" "$@" -module-name "$name" -wmo -emit-module -emit-module-path "$out/modules/$name.swiftmodule" \
    -c "${sources[@]}" -o "$out/objects/$name.o"
  touch "$stamp"
}

# A C target: a module map over its header, and its object.
c_module() {  # name, C file, header
  mkdir -p "$out/modules/$1"
  cp "$root/Sources/$1/include/$3" "$out/modules/$1/"
  printf 'module %s {\n  header "%s"\n  export *\n}\n' "$1" "$3" > "$out/modules/$1/module.modulemap"
  clang -c -O1 -fsanitize=address "$root/Sources/$1/$2" -I "$root/Sources/$1/include" -o "$out/objects/$1.o"
}
c_module CPUFeatures cpu_features.c cpu_features.h
c_module GEMMBF16 gemm_bf16.c gemm_bf16.h

library Diagnostics
library JSON
library SeededRandom
library Tokenizers
library ChatTemplate
library PreferenceData
library Checkpoint
library Kernels -I "$out/modules/CPUFeatures" -I "$out/modules/GEMMBF16"

# Yams (the YAML config's parser), from SwiftPM's checkout: its C part (libyaml) and its Swift part.
yams=$root/.build/checkouts/Yams/Sources
[[ -d $yams ]] || { echo "fuzz build: run 'swift build' first (it checks out Yams)" >&2; exit 1; }
if [[ ! -f $out/objects/CYaml.o ]]; then
  for c in "$yams"/CYaml/src/*.c; do
    clang -c -O1 -fsanitize=address,fuzzer-no-link -DYAML_DECLARE_STATIC -I "$yams/CYaml/include" "$c" \
      -o "$out/objects/CYaml-$(basename "$c" .c).o"
  done
  touch "$out/objects/CYaml.o"
fi
if [[ ! -f $out/modules/Yams.swiftmodule ]]; then
  echo "fuzz build: module Yams" >&2
  swiftc "${flags[@]}" -DSWIFT_PACKAGE -Xcc -DYAML_DECLARE_STATIC -I "$yams/CYaml/include" -module-name Yams -wmo -emit-module \
    -emit-module-path "$out/modules/Yams.swiftmodule" -c "$yams"/Yams/*.swift -o "$out/objects/Yams.o"
fi
library Model -I "$out/modules/CPUFeatures" -I "$out/modules/GEMMBF16"

objects=($(ls "$out/objects"/*.o | grep -v '/CYaml.o$'))
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=($(ls "$root/tools/fuzz/targets" | sed 's/\.swift$//'))
for target in "${targets[@]}"; do
  echo "fuzz build: target $target" >&2
  swiftc "${flags[@]}" -I "$out/modules/CPUFeatures" -I "$out/modules/GEMMBF16" -I "$yams/CYaml/include" "$root/tools/fuzz/targets/$target.swift" "$root"/tools/fuzz/support/*.swift "${objects[@]}" \
    -o "$out/fuzz-$target"
done
