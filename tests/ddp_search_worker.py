"""Run by tests/test_search.py under torchrun: a tiny search on 2 CPU processes (gloo)."""

import sys

import numpy as np
import torch

from nat.data import Dataset
from nat.runtime.distributed import init_distributed
from nat.search.config import SearchConfig
from nat.search.trainer import Search
from nat.runtime import RunDir

out = sys.argv[1]
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (400, 32, 32, 3), dtype=np.uint8)
labels = rng.integers(0, 10, 400)
data = Dataset.from_arrays("fake", [str(i) for i in range(10)], images[:320], labels[:320], images[320:], labels[320:])
cfg = SearchConfig(channels=4, layers=3, batch_size=8, epochs=2, w_steps=2, theta_steps=2, device="cpu")
dist = init_distributed("cpu")
run_dir = RunDir(out, main=dist.is_main)
run_dir.prepare(resume=False)
search = Search(cfg, data, run_dir, dist)
search.run()
# every rank must end with the same weights: same betas, averaged gradients, shared rewards
flat = torch.cat([p.detach().flatten() for p in list(search.supernet.parameters()) + list(search.policies["gcn"].parameters())])
torch.save(flat, f"{out}/rank{dist.rank}.pt")
