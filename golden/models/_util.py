"""Shared helpers for the model zoo: seeded, thread-pinned construction and cached training.

Every zoo model must be bit-for-bit reproducible from its seed, on any machine.  Two things break
that in PyTorch: the global RNG (shared with whoever else uses torch) and the intra-op thread count
(reduction order in multi-threaded CPU kernels depends on it).  ``seeded`` forks the global RNG so
construction never disturbs the caller's RNG state, and pins one thread while the block runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

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


def cache_dir() -> Path | None:
    """Where trained zoo weights are cached between processes (None = caching disabled).

    ``$NMX_ZOO_CACHE`` (a directory, or "off"), default ``~/.cache/nmx/zoo``.  Never inside the
    repository: nothing trained is committed.
    """
    env = os.environ.get("NMX_ZOO_CACHE", "")
    if env.lower() in ("off", "0", "none"):
        return None
    return Path(env) if env else Path.home() / ".cache" / "nmx" / "zoo"


def recipe_key(name: str, *parts: object, code: Sequence[object] = ()) -> str:
    """Cache key: the model name plus a hash of everything that determines the weights.

    ``parts`` are recipe values (hashed by repr); ``code`` are the functions/classes that build,
    train and feed the model (hashed by source text, via ``inspect.getsource``), plus always this
    module's ``seeded`` and the torch / transformers / torch_geometric versions.  Editing a
    recipe or the code it names invalidates the entry; unrelated edits (docs, accuracy helpers)
    keep the cache warm.
    """
    import torch_geometric
    import transformers

    h = hashlib.sha256()
    for obj in (seeded, *code):
        h.update(inspect.getsource(obj).encode())  # type: ignore[arg-type]
    for p in (torch.__version__, transformers.__version__, torch_geometric.__version__, name, *parts):
        h.update(repr(p).encode())
    return f"{name}-{h.hexdigest()[:16]}"


def disk_cached(key: str, make: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Load the state dict cached under ``key``, or run ``make`` and store its result.

    Training is deterministic, so the cache only saves time: a cold cache yields the same weights.
    Writes are atomic (temp file + rename) so concurrent processes never see a partial file; a
    write removes the model's entries under other keys (stale recipes) so the cache stays small.
    """
    d = cache_dir()
    path = None if d is None else d / f"{key}.pt"
    if path is not None and path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # corrupt / incompatible file: rebuild it
            pass
    state = make()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            torch.save(state, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            for old in path.parent.glob(f"{key.rsplit('-', 1)[0]}-*.pt"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError:
            pass
    return state
