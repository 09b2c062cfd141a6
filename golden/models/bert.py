"""BERT encoders from Hugging Face ``transformers`` built from a ``BertConfig`` (nothing downloaded).

The zoo wraps ``BertModel`` in :class:`BertClassifier`, whose forward takes only ``input_ids``
(batch 1, fixed length, no padding) and calls ``embeddings -> encoder -> pooler -> classifier``
itself.  Going through ``BertModel.forward`` instead would make ``torch.export`` trace the
attention-mask builder (arange/ge/where producing an all-zero additive mask with -FLT_MAX entries);
skipping it gives a graph whose only nonlinear ops are layer_norm, gelu (erf form), softmax and
tanh, which is exactly what NMX must lower.  The eager attention path is forced
(``attn_implementation="eager"``) so attention is matmul -> scale -> softmax -> matmul, not SDPA.

Weights: ``bert_tiny`` and ``bert_mini`` are trained briefly (single-threaded, deterministic) on the
synthetic topic-classification corpus of :mod:`golden.models.data`, so their logits have real
margins; ``bert_base`` is HF-initialised (std 0.02, seeded) and is used as an ``embed`` model (its
output is the last hidden state), because training it here would take far too long.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn
from transformers import BertConfig, BertModel

from golden.models import data
from golden.models._util import disk_cached, freeze, recipe_key, seeded, state_copy


@dataclass(frozen=True)
class BertRecipe:
    """Size, sequence length and training budget of one zoo BERT."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    seq_len: int
    vocab: int
    num_labels: int
    train_steps: int
    seed: int
    embed: bool = False
    train_batch: int = 32
    train_threads: int = 1
    lr: float = 1e-3


RECIPES: dict[str, BertRecipe] = {
    "bert_tiny": BertRecipe(2, 128, 2, 512, seq_len=32, vocab=2048, num_labels=4, train_steps=150, seed=1),
    "bert_mini": BertRecipe(4, 256, 4, 1024, seq_len=64, vocab=4096, num_labels=4, train_steps=100, seed=2,
                            train_batch=16, lr=1e-3),
    "bert_base": BertRecipe(12, 768, 12, 3072, seq_len=128, vocab=30522, num_labels=4, train_steps=0,
                            seed=3, embed=True),
}


def config(r: BertRecipe) -> BertConfig:
    """The HF config: GELU (exact erf form), eager attention, positions sized to the sequence."""
    return BertConfig(vocab_size=r.vocab, hidden_size=r.hidden, num_hidden_layers=r.layers,
                      num_attention_heads=r.heads, intermediate_size=r.intermediate, hidden_act="gelu",
                      max_position_embeddings=max(64, r.seq_len), type_vocab_size=2,
                      attn_implementation="eager")


class BertClassifier(nn.Module):
    """input_ids (1, L) int64 -> logits (1, num_labels), or last hidden state (1, L, H) if ``embed``.

    Classification head = BERT pooler (dense + tanh on [CLS]) followed by a linear layer, the
    standard ``BertForSequenceClassification`` head without dropout.
    """

    def __init__(self, cfg: BertConfig, num_labels: int, embed: bool = False) -> None:
        super().__init__()
        self.bert = BertModel(cfg, add_pooling_layer=True)
        self.classifier = nn.Linear(cfg.hidden_size, num_labels)
        self.embed = embed

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        h = self.bert.embeddings(input_ids=input_ids)
        h = self.bert.encoder(h).last_hidden_state
        if self.embed:
            return h
        assert self.bert.pooler is not None
        return self.classifier(self.bert.pooler(h))


def _arch(name: str) -> BertClassifier:
    r = RECIPES[name]
    with seeded(r.seed, threads=None):
        return BertClassifier(config(r), r.num_labels, r.embed)


def train(model: BertClassifier, r: BertRecipe) -> BertClassifier:
    """AdamW (linear warm-up/decay) on fresh synthetic batches, pinned thread count."""
    with seeded(r.seed, threads=r.train_threads):
        opt = torch.optim.AdamW(model.parameters(), lr=r.lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r.lr, total_steps=r.train_steps,
                                                    pct_start=0.1, anneal_strategy="linear")
        model.train()
        for step in range(r.train_steps):
            ids, y = data.topic_sequences(r.train_batch, r.seq_len, r.vocab, r.num_labels, seed=10_000 + step)
            loss = nn.functional.cross_entropy(model(ids), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


def _make_state(name: str) -> dict[str, torch.Tensor]:
    r = RECIPES[name]
    model = _arch(name)
    if r.train_steps:
        train(model, r)
    return state_copy(model)


@functools.cache
def _cached_state(name: str) -> dict[str, torch.Tensor]:
    """Build once per process and once per machine (disk cache, see ``_util.disk_cached``).

    Untrained recipes (bert_base) skip the disk: seeded HF initialisation is quicker than loading
    a 440 MB file.
    """
    if not RECIPES[name].train_steps:
        return _make_state(name)
    code = [_make_state, _arch, config, BertClassifier, train, data.topic_sequences]
    return disk_cached(recipe_key(name, RECIPES[name], code=code), lambda: _make_state(name))


def build(name: str) -> tuple[BertClassifier, tuple[torch.Tensor, ...]]:
    """A fresh eval-mode copy of the named BERT and a (1, L) example input_ids tensor."""
    model = _arch(name)
    model.load_state_dict(_cached_state(name))
    return freeze(model), batch(name, 1, 0)[0]


# Disjoint seed ranges: training uses 10_000+, calibration 1_000_000+, fidelity batches 2_000_000+.
def calibration(name: str, n: int) -> list[tuple[torch.Tensor, ...]]:
    r = RECIPES[name]
    ids, _ = data.topic_sequences(n, r.seq_len, r.vocab, r.num_labels, seed=1_000_000)
    return [(ids[i:i + 1],) for i in range(n)]


def batch(name: str, n: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    r = RECIPES[name]
    ids, _ = data.topic_sequences(n, r.seq_len, r.vocab, r.num_labels, seed=2_000_000 + seed)
    return [(ids[i:i + 1],) for i in range(n)]


def targets(name: str, n: int, seed: int) -> list[torch.Tensor]:
    r = RECIPES[name]
    _, y = data.topic_sequences(n, r.seq_len, r.vocab, r.num_labels, seed=2_000_000 + seed)
    return [y[i:i + 1] for i in range(n)]


def accuracy(name: str, n: int = 256) -> float:
    """Top-1 accuracy of the float classifier on ``n`` held-out synthetic sequences."""
    model, _ = build(name)
    ids, ys = torch.cat([x[0] for x in batch(name, n, 0)]), torch.cat(targets(name, n, 0))
    with torch.no_grad():
        pred = torch.cat([model(ids[i:i + 64]).argmax(-1) for i in range(0, n, 64)])
    return float((pred == ys).float().mean())
