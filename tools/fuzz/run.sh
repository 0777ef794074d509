#!/usr/bin/env bash
# Runs every libFuzzer target (or those named) for a bounded time each, starting from seed corpora made of the test
# fixtures, and reports executions and crashes per target. Exit status 1 if any target crashed, hung (> 10 s on one
# input) or went over 2 GB.
#   tools/fuzz/run.sh [seconds-per-target] [target ...]      default: 12 s each, every target
# FUZZ_KEEP_GOING=1 keeps fuzzing after a crash (libFuzzer's -fork mode), for long runs; crashing inputs go to
# .build-fuzz/artifacts/<target>/. See tools/fuzz/README.md.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/.build-fuzz}
seconds=${1:-12}; shift || true
"$root/tools/fuzz/build.sh" "$@" 2>&1 | grep -v 'ld.gold: warning' >&2 || exit 1
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=($(ls "$root/tools/fuzz/targets" | sed 's/\.swift$//'))

# seed <target> <file>...: copies fixtures into the target's corpus (once).
seed() {
  local corpus=$out/corpus/$1; shift
  mkdir -p "$corpus"
  for file in "$@"; do [[ -f $file ]] && cp "$file" "$corpus/seed-$(echo "$file" | md5sum | cut -c1-12)"; done
}
fixtures() { find "$root/Tests" -path '*Fixtures*' -type f "$@" -size -256k; }
seedAll() {
  seed json $(fixtures -name '*.json')
  seed jsonl $(fixtures -name '*.jsonl') $(fixtures -name 'trl_tokenization.json')
  seed yaml "$root"/configs/*.yaml
  seed safetensors $(fixtures -name '*.safetensors')
  seed configjson $(fixtures -name 'config.json')
  seed tokenizer $(fixtures -name 'tokenizer.json')
  seed chattemplate $(fixtures -name '*.jinja')
  # the fixture templates of the chat-template tests, one file each
  python3 - "$root/Tests/ChatTemplateTests/Fixtures/chat_templates/chat_templates.json" "$out/corpus/chattemplate" \
    <<'PY' 2>/dev/null || true
import json, sys
for entry in json.load(open(sys.argv[1]))["templates"]:
    open(f"{sys.argv[2]}/seed-{entry['name']}", "w").write(entry["source"])
PY
}
seedAll

failed=0
for target in "${targets[@]}"; do
  mkdir -p "$out/artifacts/$target"
  log=$out/artifacts/$target/last-run.log
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -detect_leaks=0 -print_final_stats=1
           -artifact_prefix="$out/artifacts/$target/")
  [[ ${FUZZ_KEEP_GOING:-0} == 1 ]] && options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  # Foundation keeps a 4 KiB buffer to exit that LeakSanitizer reports; leaks are not what these targets look for.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$out/fuzz-$target" "${options[@]}" "$out/corpus/$target" > "$log" 2>&1
  status=$?
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1)
  [[ -n $runs ]] || runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1)
  crashes=$(ls "$out/artifacts/$target" | grep -cE '^(crash|timeout|oom|leak)-')
  printf 'fuzz %-13s %4ss  %10s executions  %d crashing inputs  (exit %d, log %s)\n' \
    "$target" "$seconds" "${runs:-?}" "$crashes" "$status" "$log"
  [[ $status -eq 0 && $crashes -eq 0 ]] || failed=1
done
exit $failed
