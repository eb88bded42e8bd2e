"""One run of the demo pipeline per test session, shared by the modules that need a real run folder.

Module-scoped fixtures call :func:`shared_demo_run`; the run lives under the session's base temp folder,
so the ~10 s pipeline runs once however many modules ask for it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_demo_run(tmp_path_factory) -> Path:
    """The demo pipeline's run folder (with its report), created on first use in this session."""
    from voc.config import load_config
    from voc.pipeline import run_pipeline

    out = tmp_path_factory.getbasetemp() / "shared_demo" / "run"
    if not (out / "summary.json").is_file():
        res = run_pipeline(load_config(ROOT / "pipelines" / "demo.yaml", [f"output.dir={out}"]))
        assert res.balanced
    return out
