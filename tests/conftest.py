"""Shared test set-up: a private PyTensor compile cache and small network factories."""

from __future__ import annotations

import os
import tempfile

# PyTensor compiles C code on first use; give the test session its own cache directory so that
# parallel workers and a clean CI machine never fight over (or depend on) ~/.pytensor.
os.environ.setdefault(
    "PYTENSOR_FLAGS", f"compiledir={os.path.join(tempfile.gettempdir(), 'forecast-pytensor')}"
)
