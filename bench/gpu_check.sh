#!/usr/bin/env bash
# The one device call (see bench/gpu_check.py): the project runs from src/, the data and the answer
# keys travel in gpu_data/ (an ignored folder: carry it), everything is capped at 9 minutes.
#   prepare: mkdir -p gpu_data/nb301 && cp ../shared/data/cifar10-jpg.tar.gz ../shared/nb201/cifar10-200ep.csv gpu_data/ \
#            && cp ../shared/nb301/* gpu_data/nb301/
#   device:  run(command="bash bench/gpu_check.sh", carry=["gpu_data"], timeout_s=600)
#   here:    OUT=/tmp/gc bash bench/gpu_check.sh --tiny
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec python bench/gpu_check.py "$@"
