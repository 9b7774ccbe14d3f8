#!/usr/bin/env bash
# Submits sscodec to a GKE TPU cluster with XPK (github.com/AI-Hypercomputer/xpk), which builds an
# image from this directory and runs the command on every host of the slice(s).
#
#   launch/xpk.sh CLUSTER TPU_TYPE NUM_SLICES -- sscodec train \
#       --config experiments/soundstream_24khz.py --workdir gs://BUCKET/runs/soundstream_24khz
#
# e.g. TPU_TYPE=v5litepod-256, NUM_SLICES=2 (then set --config.mesh.dcn_shape="(2, 1)").
# XPK sets up jax.distributed for TPU hosts; sscodec.train.runtime.initialize() detects the slice.
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 CLUSTER TPU_TYPE NUM_SLICES -- COMMAND ..." >&2
  exit 2
fi
CLUSTER=$1; TPU_TYPE=$2; SLICES=$3; shift 3
[[ $1 == "--" ]] && shift
COMMAND="python3 -m pip install -q -r requirements.txt -e . 'jax[tpu]==0.10.2' && $(printf '%q ' "$@")"
xpk workload create --cluster "$CLUSTER" --workload "sscodec-$(date +%Y%m%d-%H%M%S)" \
  --tpu-type "$TPU_TYPE" --num-slices "$SLICES" --base-docker-image python:3.11-slim \
  --script-dir "$(git rev-parse --show-toplevel)" --command "$COMMAND"
