#!/usr/bin/env bash
# Quick start, step 2: install Open MPI if missing, then build and run the whole test suite (kernels, model vs.
# PyTorch fixtures, DPO, data, checkpoints, MPI under mpirun, multi-host, end-to-end training).
# One debug build serves every test; the console shows failures, skips, each suite's result and the closing count,
# and the full output (every test started and passed) goes to .build/test-output.log.
# Arguments are passed to `swift test` (e.g. --filter EndToEndTests).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/install-mpi.sh
echo "$0: building the tests (debug build; the first one on a fresh clone takes about 2-4 minutes on 2 cores)" >&2
swift build --build-tests
log=.build/test-output.log
set +e
swift test --skip-build --disable-xctest "$@" 2>&1 | tee "$log" \
    | grep --line-buffered -v -P '^(◇ (Test|Suite) .* started\.|✔ Test (?!run with ).* passed after .*)$'
status=${PIPESTATUS[0]}
set -e
echo "$0: $( ((status == 0)) && echo "all tests passed" || echo "FAILED (exit $status)"); full output in $log" >&2
exit "$status"
