"""Throughput and memory benchmark: per stage and end to end, on an N-row dump made from the bundled sample.

This is a command (``voc bench``), not a timed test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import csv
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from voc.config import PipelineConfig, load_config
from voc.io.mapping import map_columns
from voc.io.readers import open_reader
from voc.pipeline import Processor, run_pipeline

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "demo.yaml"


def make_dump(cfg: PipelineConfig, n: int, path: Path, seed: int = 0) -> Path:
    """Write an ``n``-row UTF-8 CSV with the sample's columns, rows drawn at random from the sample."""
    reader = open_reader(cfg.input.path, cfg.input.format, 10_000, cfg.input.encoding)
    src = pd.concat([c.frame for c in reader], ignore_index=True).drop(columns="_row")
    rng = np.random.default_rng(seed)
    id_col = cfg.input.columns.id
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(src.columns)
        for start in range(0, n, 50_000):
            idx = rng.integers(0, len(src), size=min(50_000, n - start))
            block = src.iloc[idx].copy()
            if id_col:
                block[id_col] = [f"B{start + i:09d}" for i in range(len(block))]
            w.writerows(block.itertuples(index=False))
    return path


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own, 1), round(kids, 1)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the run's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def stage_throughput(cfg: PipelineConfig, dump: Path, n: int) -> dict:
    """Comments/s of each stage over ``n`` mapped rows in one process (after a warm-up)."""
    frames, total = [], 0
    for chunk in open_reader(dump, chunk_size=min(n, 20_000)):
        mapped, _, _ = map_columns(chunk.frame, cfg.input)
        frames.append(mapped)
        total += len(mapped)
        if total >= n:
            break
    batch = pd.concat(frames, ignore_index=True).iloc[:n]
    proc = Processor(cfg)
    warm = batch.iloc[:200]
    for st in proc.stages:
        warm = st(warm)
    out: dict[str, float] = {}
    seconds = 0.0
    for st in proc.stages:
        t = time.perf_counter()
        batch = st(batch)
        dt = time.perf_counter() - t
        seconds += dt
        if st.name == "clean":
            batch = batch[batch["quality"] != "empty"].reset_index(drop=True)
        key = st.name if st.name != "categories" else f"categories_{st.tax_name}"
        out[f"{key}_docs_per_s"] = round(len(batch) / dt, 1)
        if st.name == "segment":
            mb = sum(len(t.encode("utf-8")) for t in batch["text"]) / 1e6
            out["segment_mb_per_s"] = round(mb / dt, 3)
    out["stages_one_process_docs_per_s"] = round(len(batch) / seconds, 1)
    return out


def run_bench(n: int = 50_000, pipeline: Path | None = None, workers: int = 0, stage_rows: int = 20_000,
              keep: Path | None = None) -> dict:
    """Benchmark the fast backend.

    Returns
    -------
    dict with ``n``, ``end_to_end_docs_per_s``, ``segment_mb_per_s``, ``peak_rss_mb`` (the largest of
    this process and its workers during the end-to-end run, which includes writing the dump; the
    per-stage timing that follows it runs ``stage_rows`` rows as one batch and is not counted),
    ``cpu_seconds`` and ``cpu_ms_per_doc`` of the end-to-end run (this process and its workers: steadier
    than wall time on a shared machine, for comparing versions), per-stage comments/s, and the run's row
    accounting.
    """
    cfg = load_config(pipeline or DEMO)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(keep) if keep else Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        dump = make_dump(cfg, n, tmp / "dump.csv")
        size_mb = dump.stat().st_size / 1e6
        run_cfg = load_config(pipeline or DEMO, [f"input.path={dump}", "input.chunk_size=2000",
                                                 f"output.dir={tmp / 'run'}", "output.report=false",
                                                 f"workers={workers}"])
        cpu0 = _cpu_seconds()
        t = time.perf_counter()
        res = run_pipeline(run_cfg)
        e2e = time.perf_counter() - t
        cpu = _cpu_seconds() - cpu0
        own, kids = _peak_rss_mb()  # the run's peak, before the one-process stage timing below
        stages = stage_throughput(run_cfg, dump, min(n, stage_rows))
    return {
        "n": n,
        "input_mb": round(size_mb, 2),
        "end_to_end_seconds": round(e2e, 2),
        "end_to_end_docs_per_s": round(n / e2e, 1),
        "segment_mb_per_s": stages.pop("segment_mb_per_s"),
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_doc": round(1000 * cpu / n, 4),
        "peak_rss_mb": max(own, kids),
        "peak_rss_main_mb": own,
        "peak_rss_workers_mb": kids,
        "rows_in": res.rows_in,
        "written": res.written,
        "quarantined": res.quarantined,
        **{f"phase_{k}_seconds": v for k, v in res.timings.items()},
        **stages,
    }
