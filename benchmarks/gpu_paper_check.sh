#!/usr/bin/env bash
# The paper-scale digits check on one GPU (issue 15), as one time-bounded script.
#
#   bash benchmarks/gpu_paper_check.sh OUT [BUDGET_SECONDS] [CONFIG]
#
# Every arm of configs/digits-paper-gpu.toml (UNet 64-128-128 with attention) at n_t = 50 and 5,103
# for seed 0, n_s = 60,000. The arms run as parallel processes on the one GPU (a small UNet leaves
# it mostly idle): scratch at once beside the source's training; freeze-shared, finetune and LoRA
# as soon as the source model is written, each from a hard link of it. Every process stops at the
# budget; the rows of finished jobs stay in each arm's results.csv either way.
set -u
out=${1:?usage: gpu_paper_check.sh OUT [BUDGET_SECONDS] [CONFIG]}
budget=${2:-480}
config=${3:-configs/digits-paper-gpu.toml}
gt=(python3 -m gentransfer digits conditional --config "$config" --no-progress --jobs 2)
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
mkdir -p "$out"
source_dir="$out/source-only/sources/mnist-ns60000-seed0"
timeout "$(left)" "${gt[@]}" --strategies source-only --out "$out/source-only" >"$out/source-only.log" 2>&1 &
timeout "$(left)" "${gt[@]}" --strategies scratch --out "$out/scratch" >"$out/scratch.log" 2>&1 &
until [ -f "$source_dir/config.json" ] || [ "$(left)" -le 0 ]; do sleep 2; done
echo "source written after $(( $(date +%s) - start )) s"
if [ -f "$source_dir/config.json" ]; then
    for arm in freeze-shared finetune lora; do
        mkdir -p "$out/$arm/sources"
        cp -al "$source_dir" "$out/$arm/sources/"
        timeout "$(left)" "${gt[@]}" --strategies "$arm" --out "$out/$arm" >"$out/$arm.log" 2>&1 &
    done
fi
wait
echo "all arms ended after $(( $(date +%s) - start )) s"
