"""The analyst notebooks run top to bottom on the bundled sample, and are committed without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voc.config import load_config
from voc.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"01_explore_run.ipynb", "02_driver_analysis.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    """nbstripout-style check: no outputs, execution counts or widget state in git."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"{path.name}: code cell {i} has outputs; clear them before committing"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has an execution count"
        assert not {"execution", "collapsed", "scrolled"} & set(cell.get("metadata", {})), f"{path.name}: cell {i}"
    assert "widgets" not in nb.get("metadata", {})
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nb") / "demo"
    run_pipeline(load_config(ROOT / "pipelines" / "demo.yaml", [f"output.dir={out}"]))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, demo_run, monkeypatch):
    """Execute every cell with a real kernel (one shared demo run via VOC_RUN instead of one run each)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("VOC_RUN", str(demo_run))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                      resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook should draw at least one chart"
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "Glyph" not in text and "missing from" not in text  # no CJK glyph fell back to a box
