#!/usr/bin/env bash
# Runs one sscodec command on every worker of a Cloud TPU VM pod slice (multi-host).
#
#   launch/tpu_vm.sh TPU_NAME ZONE [PROJECT] -- sscodec train \
#       --config experiments/soundstream_24khz.py --workdir gs://BUCKET/runs/soundstream_24khz
#
# Each worker gets this repository (rsync of the current checkout), installs it, and runs the
# command. sscodec.train.runtime.initialize() sees TPU_WORKER_HOSTNAMES and starts jax.distributed on
# its own; every host loads its own shard of each batch. A preemption (SIGTERM from the TPU
# service) saves a checkpoint; re-running the same command resumes from the workdir.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 TPU_NAME ZONE [PROJECT] -- COMMAND ..." >&2
  exit 2
fi
TPU_NAME=$1; ZONE=$2; shift 2
PROJECT_FLAG=()
if [[ $1 != "--" ]]; then PROJECT_FLAG=(--project "$1"); shift; fi
[[ $1 == "--" ]] && shift
COMMAND=$(printf '%q ' "$@")
REPO_DIR=sscodec

gcloud compute tpus tpu-vm scp --recurse --zone "$ZONE" "${PROJECT_FLAG[@]}" --worker=all \
  "$(git rev-parse --show-toplevel)" "$TPU_NAME:~/$REPO_DIR"
gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" "${PROJECT_FLAG[@]}" --worker=all \
  --command "cd ~/$REPO_DIR && python3 -m pip install -q -r requirements.txt -e . 'jax[tpu]==0.10.2' \
             && $COMMAND"
