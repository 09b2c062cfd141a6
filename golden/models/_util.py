"""Shared helpers for the model zoo: seeded, thread-pinned construction and cached training.

Every zoo model must be bit-for-bit reproducible from its seed, on any machine.  Two things break
that in PyTorch: the global RNG (shared with whoever else uses torch) and the intra-op thread count
(reduction order in multi-threaded CPU kernels depends on it).  ``seeded`` forks the global RNG so
construction never disturbs the caller's RNG state, and pins one thread while the block runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, threads: int | None = 1) -> Iterator[torch.Generator]:
    """Run a block with ``torch.manual_seed(seed)`` and ``threads`` intra-op threads, then restore.

    Yields a private ``torch.Generator`` seeded with ``seed`` for explicit sampling.
    """
    old_threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            yield torch.Generator().manual_seed(seed)
        finally:
            torch.set_num_threads(old_threads)


def state_copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached clone of a state dict (what the in-process caches keep)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no gradients: the zoo hands out inference-only reference models."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
