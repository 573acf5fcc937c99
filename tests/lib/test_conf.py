import pytest

from loyalty import conf
from loyalty.bronze.sources import load_sources


def _write(tmp_path, base="", env="", sources=""):
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "sources.yaml").write_text(sources)
    (tmp_path / "local.yaml").write_text(env)
    return tmp_path


def test_env_overrides_base_and_set_overrides_env(tmp_path):
    d = _write(tmp_path, base="data_root: ./d\na: {b: 1, c: 2}\nnew: {key: null}\n", env="a: {b: 10}\n")
    cfg = conf.load("local", ["a.c=30", "new.key=[1, 2]"], directory=d)
    assert cfg.get("a.b") == 10 and cfg.get("a.c") == 30 and cfg.get("new.key") == [1, 2]
    assert cfg.where("a.b").endswith("local.yaml")
    assert cfg.where("a.c") == "--set a.c"


def test_references_resolve_after_overrides_and_paths_are_absolute(tmp_path):
    d = _write(tmp_path, base="data_root: ./d\npaths: {lake: '${data_root}/lake'}\n")
    cfg = conf.load("local", [f"data_root={tmp_path}/x"], directory=d)
    assert cfg.get("paths.lake") == f"{tmp_path}/x/lake"
    rel = conf.load("local", directory=d)
    assert rel.get("paths.lake").startswith("/") and rel.get("paths.lake").endswith("/d/lake")


def test_missing_key_names_key_and_files(tmp_path):
    d = _write(tmp_path, base="a: 1\n")
    with pytest.raises(conf.ConfigError, match=r"missing setting 'x\.y'.*base\.yaml"):
        conf.load("local", directory=d).get("x.y")


def test_wrong_type_names_key_and_file(tmp_path):
    d = _write(tmp_path, base="generator: {members: lots}\n")
    with pytest.raises(conf.ConfigError, match=r"'generator\.members' in .*base\.yaml must be int"):
        conf.load("local", directory=d).typed("generator.members", int)


def test_unknown_env_and_bad_yaml_and_bad_override(tmp_path):
    d = _write(tmp_path, base="a: 1\n")
    with pytest.raises(conf.ConfigError, match="unknown environment 'prod'"):
        conf.load("prod", directory=d)
    with pytest.raises(conf.ConfigError, match="must be key=value|expects key=value"):
        conf.load("local", ["novalue"], directory=d)
    (d / "local.yaml").write_text("a: [unclosed\n")
    with pytest.raises(conf.ConfigError, match=r"local\.yaml is not valid YAML"):
        conf.load("local", directory=d)


def test_dangling_reference_is_reported(tmp_path):
    d = _write(tmp_path, base="paths: {lake: '${nowhere}/lake'}\n")
    with pytest.raises(conf.ConfigError, match=r"'paths\.lake'.*\$\{nowhere\}"):
        conf.load("local", directory=d)


def test_repo_conf_loads_for_every_environment():
    for env in ("local", "cluster", "test"):
        cfg = conf.load(env)
        assert len(load_sources(cfg)) >= 10
    assert conf.load("cluster").get("spark.master").startswith("spark://")


@pytest.mark.parametrize("spec, message", [
    ("s: {format: xml, path: a/*, columns: [a]}", r"sources\.s\.format.*csv, json, parquet"),
    ("s: {format: csv, columns: [a]}", r"sources\.s\.path"),
    ("s: {format: csv, path: a/*, columns: []}", r"sources\.s\.columns"),
    ("s: {format: csv, path: a/*, columns: [a, a]}", r"repeats a"),
    ("s: {format: csv, path: a/*, columns: [_x]}", r"reserved"),
    ("s: {format: csv, path: a/*, columns: [a], colums: [b]}", r"unknown setting 'sources\.s\.colums' in .*sources\.yaml "
                                                             r"\(did you mean sources\.s\.columns\?\)"),
    ("s: {format: csv, path: a/*, columns: [a], optional: maybe}", r"sources\.s\.optional.*true or false"),
])
def test_bad_source_declarations_are_named(tmp_path, spec, message):
    d = _write(tmp_path, base="paths: {landing: /l}\n", sources="sources:\n  " + spec + "\n")
    with pytest.raises(conf.ConfigError, match=message):
        load_sources(conf.load("local", directory=d))


# -- Spark settings are dotted names: they are set whole, from --set or --conf ---------------------
def test_spark_settings_keep_their_dots_from_set_and_conf(tmp_path):
    d = _write(tmp_path, base="spark: {conf: {spark.sql.shuffle.partitions: 8}}\ndq: {tables: {}}\n")
    cfg = conf.load("local", ["spark.conf.spark.eventLog.enabled=true",
                              'spark.conf."spark.eventLog.dir"=/tmp/events',
                              'dq.tables."silver.stores"=[]',
                              "spark.conf.spark.sql.shuffle.partitions=010"],
                    directory=d, spark_conf=["spark.driver.extraJavaOptions=-Da=b: c", "spark.ui.port=4041"])
    assert conf.spark_settings(cfg) == {"spark.sql.shuffle.partitions": "010", "spark.eventLog.enabled": "true",
                                        "spark.eventLog.dir": "/tmp/events",
                                        "spark.driver.extraJavaOptions": "-Da=b: c", "spark.ui.port": "4041"}
    assert cfg.get("dq.tables") == {"silver.stores": []}
    assert cfg.get("spark.conf.spark.eventLog.enabled") == "true"
    assert cfg.where("spark.conf.spark.ui.port") == "--conf spark.ui.port"
    assert cfg.where("spark.conf.spark.eventLog.enabled") == "--set spark.conf.spark.eventLog.enabled"


@pytest.mark.parametrize("item, message", [
    ("eventLog.enabled=true", r"--conf expects a Spark setting spark\.<name>=value"),
    ("spark.ui.enabled", r"--conf expects a Spark setting"),
])
def test_bad_conf_flag_is_named(tmp_path, item, message):
    d = _write(tmp_path, base="spark: {conf: {}}\n")
    with pytest.raises(conf.ConfigError, match=message):
        conf.load("local", directory=d, spark_conf=[item])


@pytest.mark.parametrize("key", ['a."b', "a..b", 'a."b"c'])
def test_malformed_setting_names_are_refused(tmp_path, key):
    d = _write(tmp_path, base="a: {b: 1}\n")
    with pytest.raises(conf.ConfigError, match="setting name"):
        conf.load("local", [f"{key}=1"], directory=d)


# -- only declared settings: a typo is refused with the closest known key ---------------------------
@pytest.mark.parametrize("item, message", [
    ("generator.member=5000", r"^unknown setting 'generator\.member' in --set \(did you mean generator\.members\?\)$"),
    ("genrator.members=5000", r"'genrator\.members' in --set \(did you mean generator\.members\?\)"),
    ("ml.recommender.popularity_dys=7", r"did you mean ml\.recommender\.popularity_days\?"),
    ("generator.members.x=1", r"unknown setting 'generator\.members\.x'"),
    ("nothing_like_it=1", r"unknown setting 'nothing_like_it' in --set \(no such setting"),
])
def test_unknown_key_in_set_is_refused_with_the_closest_known_key(item, message):
    with pytest.raises(conf.ConfigError, match=message):
        conf.load("local", [item])


def test_unknown_key_in_an_env_file_names_the_file(tmp_path):
    d = _write(tmp_path, base="generator: {members: 20000, days: 180}\n", env="generator:\n  dayz: 30\n")
    with pytest.raises(conf.ConfigError,
                       match=r"unknown setting 'generator\.dayz' in .*local\.yaml \(did you mean generator\.days\?\)"):
        conf.load("local", directory=d)


def test_free_form_maps_stay_open_and_env_only_keys_are_declared():
    cfg = conf.load("local", ["spark.conf.spark.sql.ansi.enabled=true", "reference.mcc_groups.5999=RETAIL",
                              "reference.province_timezones.XX=UTC", "gold.member_features.departments.PETS=pets",
                              "ml.segments.fill.tenure_days=0", "sources.grocer_c.format=csv",
                              'dq.tables."silver.x"=[]', "tables.bronze.pos.path=/elsewhere/pos"])
    assert cfg.get("reference.mcc_groups")["5999"] == "RETAIL" and cfg.get("sources.grocer_c.format") == "csv"
    for env in ("local", "cluster", "test"):    # every key of every env file is declared in base.yaml
        conf.load(env)
    assert conf.load("cluster").get("cluster.master").startswith("spark://")
    assert conf.load("test").get("spark.driver_memory") is None


# -- values are checked against the type of their base.yaml default -------------------------------
@pytest.mark.parametrize("item, message", [
    ("gold.as_of=2026-02-30", r"^setting 'gold\.as_of' in --set gold\.as_of must be a date YYYY-MM-DD, got "
                              r"'2026-02-30' \(day is out of range for month\)$"),
    ("silver.run_date=yesterday", r"'silver\.run_date' in --set silver\.run_date must be a date YYYY-MM-DD"),
    ("generator.members=lots", r"^setting 'generator\.members' in --set generator\.members must be a whole number, "
                               r"got 'lots'$"),
    ("generator.members=2.5", r"'generator\.members' .* must be a whole number, got 2\.5"),
    ("generator.defect_rate=high", r"'generator\.defect_rate' .* must be a number"),
    ("generator.banners=FRESHMART", r"'generator\.banners' .* must be a list"),
    ("privacy.allow_demo_key=maybe", r"'privacy\.allow_demo_key' .* must be true or false"),
    ("ml.segments.model_name=[a]", r"'ml\.segments\.model_name' .* must be text"),
    ("silver.points_reconciliation=5", r"'silver\.points_reconciliation' .* must be a mapping"),
])
def test_invalid_values_are_one_line_naming_key_and_origin(item, message):
    with pytest.raises(conf.ConfigError, match=message):
        conf.load("local", [item])


def test_valid_values_are_typed_and_dates_become_dates(tmp_path):
    import datetime as dt

    cfg = conf.load("local", ["gold.as_of=2026-11-01", "ml.segments.tol=1e-3", "ml.recommender.half_life_days=null"])
    assert cfg.get("gold.as_of") == dt.date(2026, 11, 1)
    assert cfg.get("ml.segments.tol") == 0.001 and cfg.get("ml.recommender.half_life_days") is None
    assert conf.load("local").get("silver.run_date") == dt.date(2026, 10, 31)    # ${generator.end_date}
    d = _write(tmp_path, base="gold: {as_of: null}\n", env="gold: {as_of: 2026-02-30}\n")
    with pytest.raises(conf.ConfigError, match=r"local\.yaml holds an invalid date \(day is out of range"):
        conf.load("local", directory=d)
    d = _write(tmp_path, base="generator: {members: 1}\n", env="generator: {members: many}\n")
    with pytest.raises(conf.ConfigError, match=r"'generator\.members' in .*local\.yaml must be a whole number"):
        conf.load("local", directory=d)


# -- relative paths from conf files are the project's, whatever the working directory --------------
def test_relative_data_root_from_conf_is_the_projects_and_from_set_the_cwds(tmp_path, monkeypatch):
    project = tmp_path / "project"
    d = project / "conf"
    d.mkdir(parents=True)
    _write(d, base="data_root: ./data\npaths: {lake: '${data_root}/lake', build: ./build}\nml: {artifact_root: ./art}\n")
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")                   # where Jupyter starts a notebook
    cfg = conf.load("local", directory=d)
    assert (cfg.get("data_root"), cfg.get("paths.lake"), cfg.get("paths.build")) == (
        str(project / "data"), str(project / "data" / "lake"), str(project / "build"))
    assert cfg.root == str(project) and cfg.get("ml.artifact_root") == str(project / "art")
    given = conf.load("local", ["data_root=./mine"], directory=d)   # typed on a command line: from the cwd
    assert given.get("paths.lake") == str(project / "notebooks" / "mine" / "lake")
    assert given.get("paths.build") == str(project / "build")
    assert conf.load("local", ["data_root=s3://bucket/lake"], directory=d).get("paths.lake") == "s3://bucket/lake/lake"


def test_origin_of_a_key_under_a_map_with_dotted_names_is_its_file(tmp_path):
    d = _write(tmp_path, base="dq: {tables: {silver.x: [a]}}\n", env="dq: {tables: {silver.y: [b]}}\n")
    cfg = conf.load("local", ['dq.tables."silver.z"=[c]'], directory=d)
    assert cfg.where("dq.tables.silver.x").endswith("base.yaml")
    assert cfg.where("dq.tables.silver.y").endswith("local.yaml")
    assert cfg.where("dq.tables.silver.z") == '--set dq.tables."silver.z"'
