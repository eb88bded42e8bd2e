"""Benchmark a transformer model on CPU: comments/s in float32 and dynamic int8, and accuracy when gold is given.

``voc bench-transformer --model M [--data FILE] [--n N] [--threads T] [--json]``. Throughput is
``predict_proba`` on ``n`` comments (the model's own batching and long-text policy; one warm-up batch
first), best of ``repeats`` runs. With a labelled file, accuracy is measured the way ``voc eval`` does it,
for both precisions, so the int8 accuracy cost is measured, not assumed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from voc.errors import InputError, ModelError


def _texts(data: str | Path | None, n: int) -> list[str]:
    """``n`` comments: from ``data`` (a CSV with ``text``), else the shared dev files, else the bundled sample."""
    if data is not None:
        from voc.classify.datasets import read_text_csv

        texts = read_text_csv(data, ("text",), "data file {p} does not exist")["text"].tolist()
    else:
        from voc.classify.datasets import shared_available, shared_dir

        if shared_available():
            frames = [pd.read_csv(f, dtype=str, keep_default_na=False)["text"]
                      for f in sorted((shared_dir() / "data").glob("*_sentiment_dev.csv"))]
            texts = pd.concat(frames).sample(frac=1.0, random_state=0).tolist() if frames else []
        else:
            texts = []
        if not texts:
            from importlib import resources

            raw = (resources.files("voc") / "data" / "sample_voc.csv").read_bytes().decode("gb18030")
            from io import StringIO

            df = pd.read_csv(StringIO(raw), dtype=str, keep_default_na=False)
            texts = df[df.columns[-1]].tolist()
    texts = [t for t in texts if str(t).strip()]
    if not texts:
        raise InputError("no comments to benchmark")
    reps = -(-n // len(texts))
    return (texts * reps)[:n]


def _rate(model, texts: list[str], repeats: int) -> float:
    model.predict_proba(texts[:32])  # warm-up (and the int8 copy is built here)
    best = float("inf")
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        model.predict_proba(texts)
        best = min(best, time.perf_counter() - t0)
    return round(len(texts) / best, 1)


def _accuracy(model, task: str, gold: str | Path) -> dict:
    if task == "sentiment":
        from voc.classify.evaluate import evaluate_sentiment, load_sentiment_file

        r = evaluate_sentiment(model, load_sentiment_file(gold))
        return {k: r[k] for k in ("n", "accuracy", "macro_f1")}
    from voc.taxonomy.evaluate import evaluate_mapper, load_gold

    r = evaluate_mapper(model, load_gold(gold), task)
    return {k: r[k] for k in ("n", "micro_f1", "macro_f1", "polarity_accuracy")}


def run_transformer_bench(model_spec: str, n: int = 1000, data: str | Path | None = None,
                          gold: str | Path | None = None, threads: int = 2, repeats: int = 2) -> dict:
    """Comments/s of ``model_spec`` in float32 and int8 on ``n`` comments, and accuracy on ``gold`` if given.

    Parameters
    ----------
    model_spec : a transformer model folder or name under ``models/``.
    n : comments to score per run.
    data : CSV with a ``text`` column to time on (default: the shared dev files, else the bundled sample).
    gold : labelled file for accuracy (sentiment ``text,label``, or GUIDELINES for category models).
    threads : torch CPU threads.
    repeats : timed runs per precision (the best is kept).
    """
    from voc.classify.registry import load_model, read_meta, resolve_model

    path = resolve_model(model_spec)
    meta = read_meta(path)
    if meta.get("format") != "hf":
        raise ModelError(f"model {model_spec!r} is not a transformer model (format {meta.get('format')!r})")
    task = meta.get("task", "sentiment")
    texts = _texts(data, n)
    fp32 = load_model(str(path))
    fp32.set_params(quantize=False, num_threads=threads)
    int8 = load_model(str(path))
    int8.set_params(quantize=True, num_threads=threads)
    win = fp32.windows(texts)
    res = {"model": str(model_spec), "task": task, "n": len(texts), "threads": threads,
           "max_length": int(fp32.max_length), "long_text": fp32.long_text,
           "mean_tokens": round(float(np.mean([len(w) for w in win.ids])), 1),
           "windows_per_comment": round(len(win.ids) / max(len(texts), 1), 3),
           "docs_per_s_fp32": _rate(fp32, texts, repeats), "docs_per_s_int8": _rate(int8, texts, repeats)}
    res["int8_speedup"] = round(res["docs_per_s_int8"] / res["docs_per_s_fp32"], 2) if res["docs_per_s_fp32"] else None
    res["weights_mb"] = round((path / "model.safetensors").stat().st_size / 2**20, 1)
    if gold is not None:
        a, b = _accuracy(fp32, task, gold), _accuracy(int8, task, gold)
        res["gold"] = str(gold)
        res["fp32"], res["int8"] = a, b
        key = "accuracy" if task == "sentiment" else "macro_f1"
        res[f"int8_{key}_cost"] = round(a[key] - b[key], 4)
    return res
