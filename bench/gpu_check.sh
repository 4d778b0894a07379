#!/usr/bin/env bash
# The one device call of issue 12 (see bench/gpu_check.py): the project runs from src/, the data
# travel in gpu_data/ (an ignored folder: carry it), everything is capped at 9 minutes.
#   device: run(command="bash bench/gpu_check.sh", carry=["gpu_data"], timeout_s=600)
#   here:   mkdir -p gpu_data && cp ../shared/data/cifar10-jpg.tar.gz gpu_data/ && OUT=/tmp/gc bash bench/gpu_check.sh --tiny
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec python bench/gpu_check.py "$@"
