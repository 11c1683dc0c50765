#!/usr/bin/env bash
# One-command CUDA check (under 10 minutes on one GPU: the steps are limited to 200 + 120 + 240 + 40 s):
#   1. the fused Triton kernels and the device path of rand_augment / trivial_augment against their
#      references on the GPU (uint8 and float, B in {1, 7, 256}, odd sizes, no host sync; the fused
#      two-launch form against the torch form at N in {1, 2, 4}, and its launch count); then
#      tests/test_cuda_paths.py (the fused kernels through backend/path "auto", the prefetch loader's
#      pinned non-blocking copies, the engine on cuda, AMP fp16 with its GradScaler);
#   2. `effl bench --device cuda` on the full augmentation product (shortened timing per row) and the
#      quick loss cases;
#   3. results JSON, plots and RESULTS.md rows written into benchmarks/results and benchmarks/RESULTS.md.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, after the README's set-up
#
# Exit status: 0 all checks passed and the benchmarks ran; 1 a check failed; 2 no CUDA device here.
set -u
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1

if command -v nvidia-smi >/dev/null 2>&1 && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU on this machine (nvidia-smi finds none); nothing was run" >&2
    exit 2
fi
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device: torch sees none (no GPU, or a CPU-only build of torch); nothing was run" >&2
    exit 2
fi

started=$(date +%s)
status=0
echo "== 1/3 kernels and device path against their references on CUDA"
timeout 200 python benchmarks/gpu_check.py --device cuda --out benchmarks/results/gpu-check-cuda.json || status=1

echo "== 1b/3 the CUDA-only paths' tests (fused kernels through auto, prefetch, engine, AMP fp16)"
timeout 120 python -m pytest tests/test_cuda_paths.py -q -p no:cacheprovider || status=1

echo "== 2/3 effl bench --device cuda: full augmentation product"
timeout 240 effl bench --device cuda --only augment --row-seconds 0.05 \
    --out benchmarks/results --markdown benchmarks/RESULTS.md || status=1

echo "== 3/3 effl bench --device cuda: loss cases (quick: no torch.compile)"
timeout 40 effl bench --device cuda --only loss --quick \
    --out benchmarks/results --markdown benchmarks/RESULTS.md || status=1

echo "gpu_check: done in $(( $(date +%s) - started )) s; results in benchmarks/results, report benchmarks/RESULTS.md"
exit $status
