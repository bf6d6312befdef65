#!/usr/bin/env bash
# One device-machine session (a GPU box with 16 CPU cores): both digits sweeps and the fast-sampler
# benchmark on the GPU, the unconditional simulation sweep on the spare CPU cores, side by side.
# Every sweep is resumable: what is unfinished at the time limit is resumed elsewhere with the
# same command and --out.
# Needs: .whl (POT, diffusers, importlib_metadata for Python 3.12) and .devdata/data (MNIST, USPS).
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src GENTRANSFER_DATA=$PWD/.devdata/data PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
LIMIT=${LIMIT:-420}
nproc; nvidia-smi -L; python3 -c "import torch, diffusers, ot; print(torch.__version__, diffusers.__version__, ot.__version__)"
gt="python3 -m gentransfer.cli"
start=$(date +%s)
timeout "$LIMIT" $gt digits conditional --config configs/digits-cpu-quick.toml --seeds 0,1,2 --jobs 6 \
  --out runs/dev-digits-conditional --no-progress > "$OUT/digits-conditional.log" 2>&1 &
timeout "$LIMIT" $gt digits unconditional --config configs/digits-cpu-quick.toml --strategies scratch,finetune \
  --seeds 0,1,2 --jobs 5 --out runs/dev-digits-three --no-progress > "$OUT/digits-three.log" 2>&1 &
timeout "$LIMIT" $gt simulate unconditional --designs default --jobs 5 --out runs/dev-unconditional \
  --no-progress > "$OUT/unconditional.log" 2>&1 &
wait
echo "sweeps: $(( $(date +%s) - start )) s"
model=runs/dev-digits-conditional/models/mnist-ns60000-nt5103-seed0/target-freeze-shared
[ -d "$model" ] && timeout 100 python3 benchmarks/fast_samplers.py --model "$model" > "$OUT/fast_samplers.json" 2>&1
tar czf "$OUT/runs.tar.gz" --exclude='*.safetensors' runs/dev-*
tar czf "$OUT/models.tar.gz" runs/dev-digits-conditional/models/mnist-ns60000-nt5103-seed0
ls -la "$OUT"; tail -3 "$OUT"/*.log
