"""`nat zoo` reads its costs from a shipped table: the table must be what the networks cost, and
a zoo cell that no longer matches its row must be costed afresh, never misreported."""

import json
import subprocess
import sys

import nat.factory as factory
from nat.arch.zoo import zoo


def test_the_shipped_table_is_what_the_networks_cost():
    shipped = factory.zoo_costs()
    fresh = factory.compute_zoo_costs()
    assert shipped == fresh, ("src/nat/zoo_costs.json is stale: refresh it with "
                              "python -c 'import nat.factory as f; f.write_zoo_costs()'")


def test_a_cell_whose_genotype_changed_is_costed_afresh(tmp_path, monkeypatch):
    table = factory.compute_zoo_costs()
    darts = next(r for r in table["cells"] if r["name"] == "DARTS")
    true_params = darts["params"]
    darts.update(digest="0" * 12, params=1)          # a row left behind by a zoo edit
    table["cells"] = [r for r in table["cells"] if r["name"] != "NAT_DARTS"]  # and a missing one
    (tmp_path / factory.ZOO_COSTS).write_text(json.dumps(table))

    class Files:  # importlib.resources.files(...) of a package folder holding the stale table
        def __init__(self, _pkg):
            pass

        def joinpath(self, name):
            return tmp_path / name
    monkeypatch.setattr("importlib.resources.files", Files)
    rows = {r["name"]: r for r in factory.zoo_costs()["cells"]}
    assert rows["DARTS"]["params"] == true_params
    assert rows["NAT_DARTS"]["digest"] == zoo()["NAT_DARTS"].genotype.digest
    assert list(rows) == list(zoo())


def test_nat_zoo_does_not_import_torch():
    code = ("import sys, io, contextlib\nfrom nat.cli import main\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n    rc = main(['zoo'])\n"
            "print(rc, 'torch' in sys.modules, 'ResNet50' in buf.getvalue())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "False", "True"]
