"""loyalty.notebook from a notebook's point of view: its working directory is notebooks/ (Jupyter,
VS Code), and the default lake must still be the project's data/."""

import shutil
from pathlib import Path

import pytest

from loyalty import lake, notebook

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_notebooks(monkeypatch):
    for var in ("LOYALTY_CONF_DIR", "LOYALTY_SET", "LOYALTY_ENV"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(ROOT / "notebooks")


def test_notebook_conf_from_notebooks_dir_points_at_the_projects_data(spark, in_notebooks):
    _, cfg = notebook.setup("member_360")
    assert cfg["data_root"] == str(ROOT / "data")
    assert lake.table_path(cfg, "gold.member_features") == str(ROOT / "data" / "lake" / "gold" / "member_features")


def test_notebook_run_from_notebooks_dir_reads_the_projects_lake(spark, tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "conf", project / "conf")
    (project / "notebooks").mkdir()
    monkeypatch.setenv("LOYALTY_CONF_DIR", str(project / "conf"))
    monkeypatch.setenv("LOYALTY_ENV", "test")
    monkeypatch.delenv("LOYALTY_SET", raising=False)
    monkeypatch.chdir(project)                                  # make demo: the jobs run from the root
    _, jobs_cfg = notebook.setup("jobs")
    rows = [("M1", "2026-10-01"), ("M1", "2026-11-01"), ("M2", "2026-11-01")]
    lake.append(spark.createDataFrame(rows, "member_id string, as_of string").selectExpr(
        "member_id", "to_date(as_of) AS as_of"), jobs_cfg, "gold.member_features")

    monkeypatch.chdir(project / "notebooks")                    # the notebook's first cell
    spark2, cfg = notebook.setup("member_360")
    assert cfg["data_root"] == str(project / "data")
    assert notebook.latest(spark2, cfg).count() == 2
    assert not (project / "notebooks" / "data").exists()
