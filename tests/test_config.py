"""Pipeline config: YAML loading, CLI overrides and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from voc.config import apply_overrides, dump_config, load_config, parse_override, parse_scale
from voc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_demo_pipeline_validates_and_resolves_paths():
    cfg = load_config(ROOT / "pipelines" / "demo.yaml")
    assert cfg.input.path.is_file()
    assert cfg.input.columns.text == "反馈内容"
    assert [t.name for t in cfg.taxonomies] == ["rater", "touchpoint"]


def test_overrides_are_typed_and_nested():
    cfg = load_config(ROOT / "pipelines" / "demo.yaml",
                      ["input.chunk_size=17", "clean.t2s=false", "taxonomies.0.mapper=rules", "output.dir=/tmp/x"])
    assert cfg.input.chunk_size == 17 and cfg.clean.t2s is False and str(cfg.output.dir) == "/tmp/x"


def test_dump_round_trips():
    cfg = load_config(ROOT / "pipelines" / "demo.yaml")
    again = load_config(data=yaml.safe_load(dump_config(cfg)))
    assert again == cfg


@pytest.mark.parametrize("override,msg", [
    ("input.chunk_size=0", "input.chunk_size"),
    ("segment.backend=thulac", "segment.backend"),
    ("nonsense.key=1", "nonsense"),
    ("no_equals_sign", "key=value"),
    ("taxonomies.9.mapper=x", "list index"),
])
def test_bad_overrides_give_one_clear_error(override, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(ROOT / "pipelines" / "demo.yaml", [override])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="input"):
        load_config(data={"name": "x"})


def test_segment_names_must_be_identifiers():
    with pytest.raises(ConfigError, match="identifier"):
        load_config(data={"input": {"path": "x.csv", "columns": {"text": "t", "segments": {"城 市": "c"}}}})


def test_parse_override_values():
    assert parse_override("a.b=1.5") == (["a", "b"], 1.5)
    assert parse_override("a=上海") == (["a"], "上海")
    assert apply_overrides({"a": {"b": 1}}, ["a.c=[1, 2]"]) == {"a": {"b": 1, "c": [1, 2]}}


def test_analysis_section_validates(tmp_path):
    from voc.config import load_config

    data = {"input": {"path": "x.csv", "columns": {"text": "t"}}}
    cfg = load_config(data=data, overrides=["analysis.trend_period=week", "analysis.driver_boot=0"])
    assert cfg.analysis.trend_period == "week" and cfg.analysis.driver_boot == 0
    import pytest

    from voc.errors import ConfigError

    with pytest.raises(ConfigError, match="analysis.trend_period"):
        load_config(data=data, overrides=["analysis.trend_period=day"])


def test_model_paths_resolve_like_the_other_paths(tmp_path, monkeypatch):
    """``sentiment.model`` and ``taxonomies[].mapper`` written as paths resolve against the pipeline file's
    folder, as ``input.path`` does (they resolved against the current folder only); registry names and the
    baselines stay as they are; an override finds a folder in the current folder first."""
    from voc.errors import ModelError

    proj = tmp_path / "proj"
    for d in ("pipes", "models/s1", "models/r1", "pipes/local"):
        (proj / d).mkdir(parents=True)
    (proj / "data.csv").write_text("t\n好\n", encoding="utf-8")
    pipe = proj / "pipes" / "p.yaml"
    pipe.write_text(yaml.safe_dump({
        "input": {"path": "../data.csv", "columns": {"text": "t"}}, "sentiment": {"model": "../models/s1"},
        "taxonomies": [{"name": "rater", "mapper": "../models/r1"}, {"name": "touchpoint", "mapper": "local"},
                       {"name": "a", "mapper": "rules"}, {"name": "b", "mapper": "rater-tfidf"}]}),
        encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "models" / "s2").mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    cfg = load_config(pipe)
    assert cfg.input.path.resolve() == proj / "data.csv"
    assert cfg.sentiment.model == str(proj / "models" / "s1")
    assert [t.mapper for t in cfg.taxonomies] == [str(proj / "models" / "r1"), str(proj / "pipes" / "local"),
                                                 "rules", "rater-tfidf"]
    assert cfg.given_model("sentiment", cfg.sentiment.model) == "../models/s1"
    assert cfg.given_model("a", "rules") == "rules"
    # as typed on the command line: the current folder first (as for input.path), then the pipeline's folder
    cfg = load_config(pipe, ["sentiment.model=models/s2", "taxonomies.0.mapper=../models/r1"])
    assert cfg.sentiment.model == "models/s2" and cfg.taxonomies[0].mapper == str(proj / "models" / "r1")
    with pytest.raises(ModelError, match="not found") as e:
        load_config(pipe, ["sentiment.model=../nowhere/s9"])
    msg = str(e.value)
    assert str(tmp_path / "nowhere" / "s9") in msg and str(proj / "nowhere" / "s9") in msg
    monkeypatch.chdir(proj / "pipes")
    with pytest.raises(ModelError, match="pipeline file's folder and the current folder"):
        load_config(pipe, ["sentiment.model=./s9"])


def test_overrides_by_index_apply_to_the_default_taxonomies():
    """``taxonomies.1.mapper=...`` on a pipeline without a ``taxonomies`` key failed: 'Input should be a valid
    list'. It changes the default list (rater, touchpoint)."""
    data = {"input": {"path": "x.csv", "columns": {"text": "t"}}}
    cfg = load_config(data=data, overrides=["taxonomies.1.mapper=rules"])
    assert [(t.name, t.mapper) for t in cfg.taxonomies] == [("rater", "auto"), ("touchpoint", "rules")]
    cfg = load_config(data={**data, "taxonomies": [{"name": "rater"}]}, overrides=["taxonomies.0.mapper=rules"])
    assert [(t.name, t.mapper) for t in cfg.taxonomies] == [("rater", "rules")]  # the file's list when it has one
    with pytest.raises(ConfigError, match="list index"):
        load_config(data=data, overrides=["taxonomies.2.mapper=rules"])
    with pytest.raises(ConfigError, match="list index"):
        load_config(data=data, overrides=["segment.user_dicts.0=a.txt"])  # an empty default list


@pytest.mark.parametrize("written", ["0-10", "0~10", "0–10", "0～10", "0,10", "0, 10", " 0 - 10 ", "[0, 10]", "[0,10]"])
def test_scales_accept_the_usual_spellings(written):
    cfg = load_config(ROOT / "pipelines" / "demo.yaml", [f"input.nps_scale={written}", "input.csat_scale=1-5"])
    assert cfg.input.nps_scale == (0, 10) and cfg.input.csat_scale == (1, 5)


def test_scale_in_yaml_file_as_text(tmp_path):
    data = yaml.safe_load((ROOT / "pipelines" / "demo.yaml").read_text(encoding="utf-8"))
    data["input"]["path"] = str(ROOT / "voc" / "data" / "sample_voc.csv")
    data["input"]["ces_scale"] = "1-7"
    data["input"]["rating_scale"] = ["1", "10"]
    cfg = load_config(data=data)
    assert cfg.input.ces_scale == (1, 7) and cfg.input.rating_scale == (1, 10)


@pytest.mark.parametrize("written", ["10-0", "abc", "[0, 10, 3]", "0.5-10", "5", "[true, 10]", "0-10-20"])
def test_bad_scales_say_how_to_write_them(written):
    with pytest.raises(ConfigError) as e:
        load_config(ROOT / "pipelines" / "demo.yaml", [f"input.nps_scale={written}"])
    msg = str(e.value)
    assert "input.nps_scale" in msg and "0-10 or [0, 10]" in msg and "Value error" not in msg
    assert "\n" not in msg


@given(st.integers(-100, 100), st.integers(1, 100), st.sampled_from(["-", "~", "–", ",", "～"]))
@settings(max_examples=60, deadline=None)
def test_parse_scale_round_trips(low, width, sep):
    assert parse_scale(f"{low}{sep}{low + width}") == (low, low + width)
    assert parse_scale([low, low + width]) == (low, low + width)
