"""ingest_bronze on a wrong data root: it fails (exit 1) naming the missing landing folders
instead of "succeeding" with empty bronze tables."""

from jobs import ingest_bronze
from loyalty import conf, lake


def test_wrong_data_root_fails_with_the_missing_folder_in_one_line(spark, tmp_path, caplog, capsys):
    root = tmp_path / "not_the_lake"
    argv = ["--env", "test", "--set", f"data_root={root}", "--sources", "stores,offers"]
    assert ingest_bronze.main(argv) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and all("does not exist" in e for e in errors)
    assert any(f"landing folder {root}/landing/stores of source 'stores' does not exist" in e for e in errors)
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in capsys.readouterr().err
    cfg = conf.load("test", [f"data_root={root}"])
    assert not lake.exists(cfg, "bronze.stores") and not lake.exists(cfg, "bronze.offers")
