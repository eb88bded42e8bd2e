"""The fine-tuning loop shared by the transformer estimators.

AdamW with linear warm-up and decay, gradient clipping, length-bucketed shuffled batches, evaluation on a
dev set every ``eval_every`` steps (and at the end of each epoch), early stopping with ``patience`` and the
best checkpoint restored at the end. Everything random is seeded (Python, numpy, torch, the batch order),
so the same data, configuration and thread count give the same model on the CPU. The model trains on the
device its parameters are on; on a CUDA GPU the forward pass runs under bf16 autocast, and GPU kernels are
not bit-for-bit deterministic.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


@dataclass
class LoopConfig:
    """Optimisation settings (see :class:`voc.transformer.model.TransformerClassifier` for their meaning)."""

    epochs: float = 2.0
    batch_size: int = 16
    lr: float = 5e-5
    head_lr: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    eval_every: int = 0
    patience: int = 2
    max_steps: int = 0
    max_minutes: float = 0.0
    seed: int = 0
    num_threads: int = 2
    progress: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def seed_everything(seed: int, num_threads: int | None = None) -> None:
    """Seed Python, numpy and torch; fix torch's CPU thread count when given."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if num_threads:
        torch.set_num_threads(int(num_threads))


def bucket_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within pools of ``pool`` batches, shuffle batches."""
    idx = rng.permutation(len(lengths))
    batches = []
    step = batch_size * pool
    for s in range(0, len(idx), step):
        chunk = idx[s:s + step]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=False)


def fine_tune(model, ids: list[list[int]], loss_fn: Callable, targets, pad_id: int, cfg: LoopConfig,
              evaluate: Callable[[], dict] | None = None, description: str = "fine-tuning") -> dict:
    """Fine-tune ``model`` in place and return a report (steps, best step, history, seconds).

    Parameters
    ----------
    model : a ``transformers`` model returning ``.logits``.
    ids : token ids of each training example, special tokens included.
    loss_fn : ``loss_fn(logits, batch_index) -> scalar tensor``; ``batch_index`` (a long tensor on the model's
        device) indexes ``targets``, which must live on that device too.
    targets : anything ``loss_fn`` indexes (kept for the signature's clarity).
    pad_id : the padding token id.
    cfg : optimisation settings.
    evaluate : called at each evaluation; returns a dict with ``score`` (higher is better) and anything
        else to log. Without it the last step is kept.
    """
    import torch

    from voc.transformer.infer import autocast, model_device, pad_batch

    seed_everything(cfg.seed, cfg.num_threads)
    rng = np.random.default_rng(cfg.seed)
    lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
    per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = max(1, int(round(per_epoch * cfg.epochs)))
    if cfg.max_steps:
        total = min(total, int(cfg.max_steps))
    eval_every = int(cfg.eval_every) or per_epoch
    head_names = _head_param_names(model)
    decay = lambda n: not (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n or "norm" in n.lower())
    groups = {}
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lr = cfg.head_lr if (cfg.head_lr and n in head_names) else cfg.lr
        key = (lr, decay(n))
        groups.setdefault(key, []).append(p)
    opt = torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": cfg.weight_decay if d else 0.0}
                             for (lr, d), ps in groups.items()])
    warm = int(cfg.warmup_ratio * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(warm, 1) if s < warm else max(0.0, (total - s) / max(total - warm, 1)))

    best_score, best_state, best_step, bad = -math.inf, None, 0, 0
    history: list[dict] = []
    t0 = time.perf_counter()
    step, running, stop_reason = 0, [], "steps"
    dev = model_device(model)
    model.train()
    with _progress(cfg.progress) as bar:
        task = bar.add_task(description, total=total, info="")
        while step < total:
            for b in bucket_batches(lengths, cfg.batch_size, rng):
                input_ids, mask = pad_batch([ids[i] for i in b], pad_id)
                with autocast(dev):
                    logits = model(input_ids=input_ids.to(dev), attention_mask=mask.to(dev)).logits
                loss = loss_fn(logits.float(), torch.as_tensor(b, device=dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                step += 1
                running.append(float(loss.detach()))
                info = f"loss {np.mean(running[-50:]):.4f}"
                out_of_time = cfg.max_minutes and time.perf_counter() - t0 > 60 * cfg.max_minutes
                if evaluate is not None and (step % eval_every == 0 or step == total or out_of_time):
                    res = evaluate()
                    model.train()
                    res = {"step": step, "train_loss": round(float(np.mean(running[-eval_every:])), 5),
                           "seconds": round(time.perf_counter() - t0, 1), **res}
                    history.append(res)
                    if res["score"] > best_score:
                        best_score, best_step, bad = res["score"], step, 0
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    else:
                        bad += 1
                    info += f" · dev {res['score']:.4f} (best {best_score:.4f} @ {best_step})"
                    if cfg.progress and not bar.console.is_terminal:  # logs get one line per evaluation
                        bar.console.print(f"step {step}/{total} {info} · {res['seconds']:.0f} s")
                bar.update(task, completed=step, info=info)
                if evaluate is not None and cfg.patience and bad >= cfg.patience:
                    stop_reason = "early stopping"
                    break
                if out_of_time:
                    stop_reason = "time limit"
                    break
                if step >= total:
                    break
            if stop_reason != "steps":
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"steps": step, "planned_steps": total, "steps_per_epoch": per_epoch, "best_step": best_step or step,
            "best_score": None if best_state is None else round(float(best_score), 5), "stopped_by": stop_reason,
            "seconds": round(time.perf_counter() - t0, 1), "history": history,
            "final_train_loss": round(float(np.mean(running[-50:])), 5) if running else None}


def _head_param_names(model) -> set[str]:
    """Names of the parameters of the task head (everything outside the base encoder)."""
    base = getattr(model, "base_model_prefix", "")
    return {n for n, _ in model.named_parameters() if not n.startswith(base + ".")}
