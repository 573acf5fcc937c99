"""Every notebook in notebooks/ runs top to bottom against a tiny lake (built through the jobs),
in a fresh kernel, so a broken notebook fails CI."""

from __future__ import annotations

import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


def test_there_are_notebooks():
    names = [os.path.basename(p) for p in NOTEBOOKS]
    assert len(names) >= 3, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tiny_gold, monkeypatch):
    cfg, _ = tiny_gold
    monkeypatch.setenv("LOYALTY_ENV", "test")
    monkeypatch.setenv("LOYALTY_SET", f"data_root={cfg['data_root']}")
    nb = nbformat.read(path, as_version=4)
    # run where Jupyter and VS Code run a notebook: in notebooks/
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(o.output_type in ("display_data", "execute_result") for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
