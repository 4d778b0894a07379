"""Import each module named on the command line in an interpreter of its own; print the failures.

Each import runs in a process forked from a server that has loaded only the third-party packages
(torch, numpy, ...): what is fresh is every ``nat`` module, which is what an import cycle needs
to show, and torch's two seconds are paid once instead of once per module.
"""

import importlib
import multiprocessing as mp
import sys


def check(name: str) -> str:
    try:
        importlib.import_module(name)
    except Exception as err:  # report, do not raise: the parent lists them all
        return f"{name}: {type(err).__name__}: {err}"
    return ""


if __name__ == "__main__":
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "numpy", "PIL.Image", "tqdm", "yaml"])
    with ctx.Pool(2, maxtasksperchild=1) as pool:
        failures = [f for f in pool.map(check, sys.argv[1:], chunksize=1) if f]
    print("\n".join(failures))
    sys.exit(1 if failures else 0)
