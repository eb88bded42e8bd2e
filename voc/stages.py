"""The stage contract shared by every runtime stage.

A stage takes a batch (a pandas DataFrame) and returns one. Model stages
split inference into ``preprocess`` → ``forward`` → ``postprocess``; the
mini-batching loop is written once here, so a fast scikit-learn model and a
transformer plug into the pipeline the same way.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd


class Stage:
    """A runtime stage: ``stage(batch) -> batch``."""

    name = "stage"

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError


class ModelStage(Stage):
    """A stage that runs a model over the batch in mini-batches of ``batch_size`` inputs."""

    # Inputs per forward call. Vectorised models pay a fixed cost per call (the TF-IDF sentiment model: about
    # a quarter of its time at 1024), so calls are large; a transformer batches inside its own forward.
    batch_size = 8192

    def preprocess(self, batch: pd.DataFrame) -> Sequence[Any]:
        """Model inputs, one per item."""
        raise NotImplementedError

    def forward(self, inputs: Sequence[Any]) -> np.ndarray:
        """Model outputs for one mini-batch (first axis aligned with ``inputs``)."""
        raise NotImplementedError

    def postprocess(self, batch: pd.DataFrame, outputs: np.ndarray) -> pd.DataFrame:
        """Attach outputs to the batch."""
        raise NotImplementedError

    def run_model(self, inputs: Sequence[Any]) -> np.ndarray:
        """``forward`` over ``inputs`` in mini-batches, concatenated."""
        if len(inputs) == 0:
            return self.forward(inputs)
        parts = [self.forward(inputs[i:i + self.batch_size]) for i in range(0, len(inputs), self.batch_size)]
        return np.concatenate(parts, axis=0)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.postprocess(batch, self.run_model(self.preprocess(batch)))
