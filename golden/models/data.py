"""Realistic, download-free inputs for the zoo.

* Images: scikit-learn's handwritten digits (1797 8x8 greyscale images that ship inside sklearn),
  bilinearly upscaled.  The 3-channel variant paints each digit with a seeded foreground and
  background colour plus mild noise, so the three channels are genuinely different images.
* Tokens: a synthetic "topic" corpus.  Background tokens follow a Zipf law over the vocabulary
  (like real text); each sequence is ``[CLS] ... [SEP]`` and a fraction of its tokens come from
  the topic-word set of its class, which is what the BERT classifiers learn to detect.

The digits split is fixed (seed 0 permutation): the first ``DIGITS_TRAIN`` images are training /
calibration data, the rest are the held-out set used for fidelity batches and accuracy figures.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

DIGITS_TRAIN = 1297
"""Images 0..DIGITS_TRAIN-1 of the permuted digits set train/calibrate; the other 500 are held out."""


@functools.cache
def _digits_raw() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits as (N, 1, 8, 8) float in [0, 1] and int64 labels, in a fixed permuted order."""
    from sklearn.datasets import load_digits

    d = load_digits()
    perm = np.random.default_rng(0).permutation(len(d.target))
    x = torch.tensor(d.images[perm] / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target[perm], dtype=torch.int64)
    return x, y


def digits(split: str, size: int, channels: int, colour: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised digit images (N, channels, size, size) and labels for ``split`` "train"|"test".

    1 channel: intensity standardised with fixed constants (mean 0.3, std 0.4 of the 8x8 set).
    3 channels, ``colour=False``: the 1-channel image replicated (used where the weights are random
    features, which cannot learn colour invariance).
    3 channels, ``colour=True``: per-image seeded colouring (foreground/background RGB, contrast >= 0.5) plus
    N(0, 0.03) pixel noise, then (x - 0.5) / 0.25.  Deterministic: the colouring seed is the
    image index, so a given image always looks the same.
    """
    x, y = _digits_raw()
    sl = slice(0, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
    idx = torch.arange(len(y))[sl]
    x, y = x[sl], y[sl]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    if channels == 1 or not colour:
        return ((x - 0.3) / 0.4).repeat(1, channels, 1, 1), y
    assert channels == 3, channels
    out = torch.empty(len(y), 3, size, size)
    for k, i in enumerate(idx.tolist()):
        g = torch.Generator().manual_seed(1000 + i)
        bg = torch.rand(3, generator=g) * 0.5
        fg = (bg + 0.5 + torch.rand(3, generator=g) * 0.5).clamp(max=1.0)
        if bool(torch.rand(1, generator=g) < 0.5):  # light background half of the time
            fg, bg = 1.0 - fg, 1.0 - bg
        noise = torch.randn(3, size, size, generator=g) * 0.03
        out[k] = bg[:, None, None] + (fg - bg)[:, None, None] * x[k] + noise
    return (out - 0.5) / 0.25, y


def pick(n_total: int, n: int, seed: int) -> list[int]:
    """``n`` distinct indices (with wrap-around repeats if n > n_total) from a seeded permutation."""
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(seed)).tolist()
    return [perm[i % n_total] for i in range(n)]


# ----------------------------------------------------------------------------------------- tokens
PAD_ID, CLS_ID, SEP_ID = 0, 1, 2
FIRST_WORD = 3
TOPIC_WORDS = 24
"""Topic-word set size per class."""


def topic_sequences(n: int, seq_len: int, vocab: int, num_labels: int, seed: int,
                    topic_frac: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` token-id sequences (n, seq_len) int64 and their class labels.

    Background words ~ Zipf(1.1) over ids FIRST_WORD..vocab-1; about ``topic_frac`` of the
    positions are replaced by words from the label's topic set, and a further 3% by words from
    other classes' sets (distractors).  Topic sets are fixed (seed-independent) for a given vocab.
    """
    rng = np.random.default_rng(seed)
    words = np.arange(FIRST_WORD, vocab)
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    p = ranks ** -1.1
    p /= p.sum()
    topic_rng = np.random.default_rng(12345 + vocab)
    # Topic words are drawn from the mid-frequency band so they are not trivially the commonest ids.
    band = words[len(words) // 20: len(words) // 2]
    topics = topic_rng.choice(band, size=(num_labels, TOPIC_WORDS), replace=False)
    labels = rng.integers(0, num_labels, size=n)
    body = rng.choice(words, size=(n, seq_len - 2), p=p)
    u = rng.random(size=body.shape)
    own = topics[labels][np.arange(n)[:, None], rng.integers(0, TOPIC_WORDS, size=body.shape)]
    other_lab = (labels[:, None] + rng.integers(1, num_labels, size=body.shape)) % num_labels
    other = topics[other_lab, rng.integers(0, TOPIC_WORDS, size=body.shape)]
    body = np.where(u < topic_frac, own, np.where(u < topic_frac + 0.03, other, body))
    ids = np.concatenate([np.full((n, 1), CLS_ID), body, np.full((n, 1), SEP_ID)], axis=1)
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(labels, dtype=torch.int64)
