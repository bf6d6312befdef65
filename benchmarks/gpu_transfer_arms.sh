#!/usr/bin/env bash
# The paper-scale transfer arms on one GPU (issue 15), second try, as one time-bounded script.
#
#   bash benchmarks/gpu_transfer_arms.sh OUT [BUDGET_SECONDS] [CONFIG]
#
# The first try (gpu_paper_check.sh) trained the source beside two scratch fits and had no time
# left for the transfer arms. Here the phases run in the order the question needs them:
#   1. the MNIST source alone (one process: the source-only arm at n_t = 50 trains and samples it);
#   2. freeze-shared, finetune and LoRA at n_t = 50, the informative cell (paper-scale scratch
#      there: FD 5.29 in results/digits_gpu/), each its own process from a hard link of the source;
#   3. the same three at n_t = 5,103 with what is left of the budget.
# Every process stops at the budget; finished rows stay in each arm's results.csv either way.
set -u
out=${1:?usage: gpu_transfer_arms.sh OUT [BUDGET_SECONDS] [CONFIG]}
budget=${2:-480}
config=${3:-configs/digits-paper-gpu.toml}
gt=(python3 -m gentransfer digits conditional --config "$config" --no-progress --seeds 0 --n-source 60000)
start=$(date +%s)
# at least 1: `timeout 0` would mean no limit at all
left() { local l=$(( budget - ($(date +%s) - start) )); echo $(( l > 0 ? l : 1 )); }
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
mkdir -p "$out"
source_dir="$out/source-only/sources/mnist-ns60000-seed0"
stamp "phase 1: the source alone"
timeout "$(left)" "${gt[@]}" --strategies source-only --n-target 50 --n-source-sweep-at 50 \
    --out "$out/source-only" >"$out/source-only.log" 2>&1
stamp "phase 1 ended (rc $?)"
[ -f "$source_dir/config.json" ] || { stamp "no source model: stop"; exit 1; }
python3 -c "import json, sys; m = json.load(open(sys.argv[1])); print({k: m[k] for k in ('seconds', 'steps')})" "$source_dir/metrics.json"
for n_t in 50 5103; do
    stamp "phase: transfer arms at n_t = $n_t"
    for arm in freeze-shared finetune lora; do
        dir="$out/$arm-nt$n_t"
        mkdir -p "$dir/sources"
        cp -al "$source_dir" "$dir/sources/"
        timeout "$(left)" "${gt[@]}" --strategies "$arm" --n-target "$n_t" --n-source-sweep-at "$n_t" \
            --out "$dir" >"$dir.log" 2>&1 &
    done
    wait
    stamp "n_t = $n_t ended"
    [ "$(left)" -gt 60 ] || break
done
stamp "all phases ended"
