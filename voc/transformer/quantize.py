"""Dynamic int8 quantisation for CPU inference.

``torch.ao.quantization.quantize_dynamic`` replaces every ``torch.nn.Linear`` with a version whose weights
are int8 and whose activations are quantised on the fly; embeddings and layer norms stay float32. The
original model is not changed. Use :func:`compare_int8` (or ``voc bench-transformer``) to measure the
accuracy cost on labelled data: it differs per model and task.
"""

from __future__ import annotations

import copy
import warnings


def quantize_dynamic_int8(model):
    """A dynamically int8-quantised copy of ``model`` (its Linear layers), in eval mode."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    if torch.backends.quantized.engine == "none":  # pragma: no cover - depends on the torch build
        for engine in ("x86", "fbgemm", "qnnpack"):
            if engine in torch.backends.quantized.supported_engines:
                torch.backends.quantized.engine = engine
                break
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
        q = quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)
    return q.eval()


def int8_size_bytes(model) -> int:
    """Approximate in-memory size of the quantised model's parameters and packed weights."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell()
