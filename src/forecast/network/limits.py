"""Sizes the network layer refuses before allocating.

No numpy here, so the model loader can check them without importing it.
"""

from __future__ import annotations

__all__ = ["MAX_CPT_ENTRIES"]

MAX_CPT_ENTRIES = 1_000_000
"""Most entries one node's CPT may have: its own states times the product of its parents'.

Checked before a table is allocated, by the model loader (every form is built in full, a logit or
noisy-OR node too, for every parameter draw at once) and by the BIF reader; a table also needs
one row per parent configuration.
"""
