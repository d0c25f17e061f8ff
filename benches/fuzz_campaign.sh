#!/usr/bin/env bash
# The decoding fuzz campaign beyond CI (BENCHMARKS.md, "Fuzzing"): the fuzzers of
# tests/integration/decode_fuzz.rs, run long, one family at a time, so each gets its count of
# mutated inputs (default 10M). Every input is decoded; one that decodes is queried, merged
# with its seed and encoded again. A panic fails the run and names its seed (HAZY_FUZZ_SEED).
#
#   benches/fuzz_campaign.sh [inputs per family] [seed]
set -euo pipefail
inputs=${1:-10000000}
seed=${2:-1}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hazy-target}"
# Built once and copied, so that editing the sources during a long campaign changes nothing.
built=$(cargo test --release --test integration --no-run 2>&1 |
    sed -n 's/.*Executable tests\/integration\/main.rs (\(.*\))/\1/p')
[ -n "$built" ] || { echo "the integration tests do not build" >&2; exit 1; }
bin=$(mktemp /tmp/hazy-fuzz.XXXXXX)
cp "$built" "$bin" && chmod +x "$bin"
trap 'rm -f "$bin"' EXIT
cd "$(dirname "$0")/.." # the tests read tests/datasketches/ from here
run() { # test, family code, label
    start=$(date +%s)
    HAZY_FUZZ_ROUNDS=$inputs HAZY_FUZZ_FAMILY=$2 HAZY_FUZZ_SEED=$seed \
        "$bin" "decode_fuzz::$1" --nocapture 2>&1 |
        grep -E "tried|accepted|panicked|test result" | sed "s/^/$3: /"
    echo "$3: $(( $(date +%s) - start )) s"
}
# Hazy's own states, by family code (docs/FORMAT.md).
for f in 1:hll 2:cms 3:topk 4:bloom 5:minhash 6:kll 7:dd 8:tdigest; do
    run mutated_states_never_panic "${f%%:*}" "${f#*:}"
done
# DataSketches images, by family byte: theta 3, HLL 7, frequent items 10, KLL 15.
for f in 3:ds_theta 7:ds_hll 10:ds_frequent_items 15:ds_kll; do
    run mutated_datasketches_bytes_never_panic "${f%%:*}" "${f#*:}"
done
