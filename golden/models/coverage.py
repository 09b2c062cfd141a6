"""Architecture instances for the model-coverage matrix (``python -m compiler.coverage_matrix``).

One small, seeded, download-free instance per architecture the compiler is meant to cover (issue
12): Hugging Face encoders built from tiny configs, ``torch.nn`` attention / transformer layers,
modern CNN blocks, gated MLPs, a transposed-conv decoder, PyG message-passing layers and
batch > 1 variants, plus control rows that compile today.

``CASES`` maps a row name to a :class:`Case`; ``case.build()`` returns ``(model, example,
calibration, batch)``: an eval-mode model with gradients off, one example input tuple, 8
calibration input tuples and 8 held-out input tuples (disjoint seeds).  Everything is seeded
(``golden.models._util.seeded``: forked global RNG, one thread, plus private generators for the
inputs), so a row builds to the same weights and inputs on every run and machine.  Sizes are kept
tiny (hidden 32-64, 1-2 layers, sequence 8-16, images 16x16-32x32, graphs <= 30 nodes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from golden.models._util import freeze, seeded

Inputs = tuple[Any, ...]
Instance = tuple[nn.Module, Inputs, list[Inputs], list[Inputs]]

N_CALIB = 8
N_BATCH = 8
_CAL_SEED = 1_000   # input seeds: calibration 1000+i, held-out batch 2000+i (per case offset)
_BATCH_SEED = 2_000


@dataclass(frozen=True)
class Case:
    name: str
    group: str            # "control" | "hf" | "attention" | "cnn" | "mlp" | "ops" | "gnn" | "batch"
    description: str
    make: Callable[[], Instance]
    control: bool = False  # expected to compile today

    def build(self) -> Instance:
        return self.make()


def _instance(model: nn.Module, draw: Callable[[torch.Generator], Inputs], seed: int) -> Instance:
    """Freeze ``model``; example = calibration[0]; calibration / batch from disjoint input seeds."""
    def many(base: int, n: int) -> list[Inputs]:
        return [draw(torch.Generator().manual_seed(base + 100 * seed + i)) for i in range(n)]
    calib = many(_CAL_SEED * 1000, N_CALIB)
    held = many(_BATCH_SEED * 1000, N_BATCH)
    return freeze(model), calib[0], calib, held


def _randomise_bn(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters for every batch norm (seeded by caller)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.7, 1.3)
            m.bias.data.uniform_(-0.1, 0.1)


# --------------------------------------------------------------------------------------------- CNN
def _images(n: int, c: int, hw: int) -> Callable[[torch.Generator], Inputs]:
    return lambda g: (torch.randn(n, c, hw, hw, generator=g),)


class SmallResCNN(nn.Module):
    """Control: stem conv-BN-ReLU, one basic residual block, global average pool, linear head."""

    def __init__(self, c: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.c1 = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.c2 = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = F.relu(x + self.c2(self.c1(x)))
        return self.head(x.mean(dim=(2, 3)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand-BN-ReLU6, 3x3 depthwise-BN-ReLU6, 1x1 project-BN, residual."""

    def __init__(self, c: int, expand: int = 4) -> None:
        super().__init__()
        h = c * expand
        self.block = nn.Sequential(
            nn.Conv2d(c, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, h, 3, 1, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(),
            nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block: depthwise 7x7, channels-last LayerNorm, Linear 4x, GELU, Linear, layer scale."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1 = nn.Linear(c, 4 * c)
        self.pw2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class SqueezeExcite(nn.Module):
    """Squeeze-excitation: x * sigmoid(fc2(relu(fc1(avgpool(x)))))."""

    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class BlockNet(nn.Module):
    """Stem conv 3x3 (3 -> c) + ReLU, the block under test, global average pool, linear head."""

    def __init__(self, block: nn.Module, c: int, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, 1, 1)
        self.block = block
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(F.relu(self.stem(x))).mean(dim=(2, 3)))


class Decoder(nn.Module):
    """ConvTranspose2d decoder: latent (16, 8, 8) -> 4x4/2 up -> ReLU -> 4x4/2 up -> (3, 32, 32)."""

    def __init__(self) -> None:
        super().__init__()
        self.up1 = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.up2(F.relu(self.up1(z))))


def _cnn(seed: int, make: Callable[[], nn.Module], draw: Callable[[torch.Generator], Inputs]) -> Instance:
    with seeded(seed):
        m = make()
        _randomise_bn(m)
    return _instance(m, draw, seed)


# --------------------------------------------------------------------------------------------- MLP
class SwiGLU(nn.Module):
    """LLaMA-style MLP: w2(silu(w1 x) * w3 x)."""

    def __init__(self, d: int = 32, h: int = 64) -> None:
        super().__init__()
        self.w1, self.w3, self.w2 = nn.Linear(d, h), nn.Linear(d, h), nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class GLUMLP(nn.Module):
    """GLU MLP: Linear(d, 2h) -> F.glu (a * sigmoid(b)) -> Linear(h, d)."""

    def __init__(self, d: int = 32, h: int = 64) -> None:
        super().__init__()
        self.up, self.down = nn.Linear(d, 2 * h), nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.glu(self.up(x), dim=-1))


def _mlp(seed: int, make: Callable[[], nn.Module]) -> Instance:
    with seeded(seed):
        m = make()
    return _instance(m, lambda g: (torch.randn(1, 8, 32, generator=g),), seed)


# -------------------------------------------------------------------------------- torch attention
D_MODEL, N_HEAD, SEQ = 32, 4, 8


def _pad_mask(g: torch.Generator, b: int, t: int) -> torch.Tensor:
    """(b, t) bool key-padding mask, True = padded: 0-3 padded positions at the end of each row."""
    pad = torch.randint(0, 4, (b,), generator=g)
    return torch.arange(t)[None, :] >= (t - pad)[:, None]


class MHA(nn.Module):
    """Self-attention through nn.MultiheadAttention; returns out (and the averaged weights)."""

    def __init__(self, batch_first: bool, need_weights: bool, causal: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(D_MODEL, N_HEAD, batch_first=batch_first)
        self.need_weights = need_weights
        mask = torch.triu(torch.ones(SEQ, SEQ, dtype=torch.bool), 1) if causal else None
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> Any:
        out, w = self.attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=self.need_weights,
                           attn_mask=self.mask)
        return (out, w) if self.need_weights else out


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer (post-norm, ReLU FFN 64, no dropout)."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(D_MODEL, N_HEAD, 64, dropout=0.0, batch_first=batch_first)

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.layer(x, src_key_padding_mask=src_key_padding_mask)


def _seq_draw(batch_first: bool, b: int, with_mask: bool) -> Callable[[torch.Generator], Inputs]:
    def draw(g: torch.Generator) -> Inputs:
        x = torch.randn(b, SEQ, D_MODEL, generator=g)
        if not batch_first:
            x = x.transpose(0, 1).contiguous()
        return (x, _pad_mask(g, b, SEQ)) if with_mask else (x,)
    return draw


def _mha(seed: int, batch_first: bool = True, need_weights: bool = False, causal: bool = False,
         kpm: bool = False, b: int = 1) -> Instance:
    with seeded(seed):
        m = MHA(batch_first, need_weights, causal)
    return _instance(m, _seq_draw(batch_first, b, kpm), seed)


def _tel(seed: int, batch_first: bool = True, kpm: bool = False, b: int = 1) -> Instance:
    with seeded(seed):
        m = EncoderLayer(batch_first)
    return _instance(m, _seq_draw(batch_first, b, kpm), seed)


# ----------------------------------------------------------------------------- Hugging Face models
VOCAB, HF_SEQ = 128, 8


class TokenModel(nn.Module):
    """A Hugging Face token model called with keywords; returns one tensor field of its output."""

    def __init__(self, model: nn.Module, field: str) -> None:
        super().__init__()
        self.model, self.field = model, field

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        kw = {} if attention_mask is None else {"attention_mask": attention_mask}
        return getattr(self.model(input_ids=input_ids, **kw), self.field)


class ImageModel(nn.Module):
    def __init__(self, model: nn.Module, field: str) -> None:
        super().__init__()
        self.model, self.field = model, field

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(pixel_values=pixel_values), self.field)


def _tokens(b: int, with_mask: bool, pad_id: int) -> Callable[[torch.Generator], Inputs]:
    """(b, HF_SEQ) int64 ids drawn from [3, VOCAB) (no special ids); with a mask, 0-3 trailing
    positions per row are padding (id ``pad_id``, mask 0)."""
    def draw(g: torch.Generator) -> Inputs:
        ids = torch.randint(3, VOCAB, (b, HF_SEQ), generator=g)
        if not with_mask:
            return (ids,)
        padded = _pad_mask(g, b, HF_SEQ)
        return ids.masked_fill(padded, pad_id), (~padded).long()
    return draw


_HF_COMMON = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=32, attn_implementation="eager")


def _hf_config(kind: str) -> Any:
    import transformers as tf
    if kind == "bert":
        return tf.BertConfig(**_HF_COMMON, type_vocab_size=2)
    if kind == "roberta":
        return tf.RobertaConfig(**_HF_COMMON, type_vocab_size=1, pad_token_id=1)
    if kind == "electra":
        return tf.ElectraConfig(**_HF_COMMON, embedding_size=16)
    if kind == "albert":
        return tf.AlbertConfig(**_HF_COMMON, embedding_size=16)
    if kind == "distilbert":
        return tf.DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                                   max_position_embeddings=32, attn_implementation="eager")
    if kind == "vit":
        return tf.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=2, intermediate_size=64, num_labels=10,
                            attn_implementation="eager")
    raise KeyError(kind)


def _hf_tokens(seed: int, kind: str, cls: str, field: str, mask: bool = True, b: int = 1,
               num_labels: int | None = None) -> Instance:
    import transformers as tf
    cfg = _hf_config(kind)
    if num_labels is not None:
        cfg.num_labels = num_labels
    with seeded(seed):
        m = TokenModel(getattr(tf, cls)(cfg), field)
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else 0
    return _instance(m, _tokens(b, mask, pad), seed)


def _hf_vit(seed: int, cls: str, field: str, b: int = 1) -> Instance:
    import transformers as tf
    with seeded(seed):
        m = ImageModel(getattr(tf, cls)(_hf_config("vit")), field)
    return _instance(m, _images(b, 3, 32), seed)


def _zoo_bert(seed: int, b: int = 1) -> Instance:
    """Control: the zoo's BertClassifier (ids only, no mask) at 1 layer / 32 hidden, seeded HF init."""
    from golden.models import bert
    r = bert.BertRecipe(1, 32, 2, 64, seq_len=HF_SEQ, vocab=VOCAB, num_labels=4, train_steps=0, seed=seed)
    with seeded(seed):
        m = bert.BertClassifier(bert.config(r), r.num_labels)
    return _instance(m, _tokens(b, False, 0), seed)


# --------------------------------------------------------------------------------------------- GNN
IN_FEAT, HID, CLASSES = 8, 32, 4


def _graph_edges(sizes: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint union of seeded random undirected graphs (a ring + 1 chord per 3 nodes each):
    edge_index (2, E) int64 with both directions, and the batch vector (N,) int64."""
    g = torch.Generator().manual_seed(seed)
    src, dst, batch, off = [], [], [], 0
    for gi, n in enumerate(sizes):
        pairs = {(i, (i + 1) % n) for i in range(n)}
        for _ in range(max(1, n // 3)):
            a, b = (int(v) for v in torch.randint(0, n, (2,), generator=g))
            if a != b:
                pairs.add((a, b))
        for a, b in sorted({(min(p), max(p)) for p in pairs}):
            src += [off + a, off + b]
            dst += [off + b, off + a]
        batch += [gi] * n
        off += n
    return torch.tensor([src, dst]), torch.tensor(batch)


class NodeGNN(nn.Module):
    """Two message-passing layers with a nonlinearity between: node logits (N, CLASSES)."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module,
                 act: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.conv1, self.conv2, self.act = conv1, conv2, act

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x, edge_index)), edge_index)


class GraphClassifier(nn.Module):
    """Two message-passing layers + ReLU, a global pool over ``batch``, linear head: (G, CLASSES)."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, pool: str, n_graphs: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2
        self.pool, self.n_graphs = pool, n_graphs
        self.head = nn.Linear(HID, CLASSES)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        from torch_geometric.nn import global_add_pool, global_mean_pool
        h = F.relu(self.conv2(F.relu(self.conv1(x, edge_index)), edge_index))
        pool = global_mean_pool if self.pool == "mean" else global_add_pool
        return self.head(pool(h, batch, size=self.n_graphs))


def _graph_draw(edge_index: torch.Tensor, batch: torch.Tensor | None) -> Callable[[torch.Generator], Inputs]:
    n = int(edge_index.max()) + 1

    def draw(g: torch.Generator) -> Inputs:
        x = torch.randn(n, IN_FEAT, generator=g)
        return (x, edge_index) if batch is None else (x, edge_index, batch)
    return draw


def _gnn(seed: int, layer: str, sizes: list[int] | None = None) -> Instance:
    import torch_geometric.nn as gnn
    sizes = sizes or [24]
    ei, _ = _graph_edges(sizes, seed)

    def mlp(i: int, o: int) -> nn.Module:
        return nn.Sequential(nn.Linear(i, HID), nn.ReLU(), nn.Linear(HID, o))
    with seeded(seed):
        if layer == "gcn":   # the zoo's GCN (control)
            from golden.models.gnn import GCN
            m: nn.Module = GCN(IN_FEAT, HID, CLASSES)
        elif layer == "gin":
            m = NodeGNN(gnn.GINConv(mlp(IN_FEAT, HID)), gnn.GINConv(mlp(HID, CLASSES)), F.relu)
        elif layer == "graphconv":
            m = NodeGNN(gnn.GraphConv(IN_FEAT, HID), gnn.GraphConv(HID, CLASSES), F.relu)
        elif layer == "gat":
            m = NodeGNN(gnn.GATConv(IN_FEAT, HID // 2, heads=2), gnn.GATConv(HID, CLASSES, heads=1), F.elu)
        elif layer in ("sage_mean", "sage_max"):
            aggr = layer.split("_")[1]
            m = NodeGNN(gnn.SAGEConv(IN_FEAT, HID, aggr=aggr), gnn.SAGEConv(HID, CLASSES, aggr=aggr), F.relu)
        else:
            raise KeyError(layer)
    return _instance(m, _graph_draw(ei, None), seed)


def _gnn_pool(seed: int, layer: str, pool: str, sizes: list[int]) -> Instance:
    import torch_geometric.nn as gnn
    ei, batch = _graph_edges(sizes, seed)
    with seeded(seed):
        if layer == "gcn":
            c1, c2 = gnn.GCNConv(IN_FEAT, HID), gnn.GCNConv(HID, HID)
        else:  # gin
            c1 = gnn.GINConv(nn.Sequential(nn.Linear(IN_FEAT, HID), nn.ReLU(), nn.Linear(HID, HID)))
            c2 = gnn.GINConv(nn.Sequential(nn.Linear(HID, HID), nn.ReLU(), nn.Linear(HID, HID)))
        m = GraphClassifier(c1, c2, pool, len(sizes))
    return _instance(m, _graph_draw(ei, batch), seed)


# ------------------------------------------------------------------- comparisons, selects, cumsum
class PosWindowEncoder(nn.Module):
    """A user-written token classifier whose masks are integer arithmetic on its ids: RoBERTa-style
    position ids ``pos = cumsum(ids != pad) * (ids != pad)``, and attention only to keys that are not
    special tokens (``ids >= 3``) inside a window (``0 < pos < 7``); keys masked through
    nn.MultiheadAttention's key_padding_mask; CLS-position logits."""

    PAD, WINDOW = 1, 7

    def __init__(self, d: int = D_MODEL) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(HF_SEQ + 2, d)
        self.attn = nn.MultiheadAttention(d, N_HEAD, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        real = ids.ne(self.PAD).int()
        pos = torch.cumsum(real, dim=1) * real
        keep = (ids >= 3) & (pos < self.WINDOW) & (pos > 0)
        h = self.tok(ids) + self.pos(pos)
        a, _ = self.attn(h, h, h, key_padding_mask=~keep, need_weights=False)
        return self.head(self.norm(h + a)[:, 0])


def _window_ids(b: int) -> Callable[[torch.Generator], Inputs]:
    """ids (b, HF_SEQ): a real first token, special ids 0/2 sprinkled, 0-3 trailing pads (id 1)."""
    def draw(g: torch.Generator) -> Inputs:
        ids = torch.randint(3, VOCAB, (b, HF_SEQ), generator=g)
        special = torch.rand(b, HF_SEQ, generator=g) < 0.2
        special[:, 0] = False
        ids = torch.where(special, torch.randint(0, 2, (b, HF_SEQ), generator=g) * 2, ids)
        return (ids.masked_fill(_pad_mask(g, b, HF_SEQ), PosWindowEncoder.PAD),)
    return draw


class WhereGateMLP(nn.Module):
    """A hard gated MLP: ``down(where(gate(x) > 0, a(x), b(x)))`` (a select between two
    activations decided by a float comparison)."""

    def __init__(self, d: int = 32, h: int = 64) -> None:
        super().__init__()
        self.gate, self.a, self.b = nn.Linear(d, h), nn.Linear(d, h), nn.Linear(d, h)
        self.down = nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.where(self.gate(x) > 0, self.a(x), self.b(x)))


class WhereELUMLP(nn.Module):
    """ELU written with a float mask: ``h = up(x); where(h > 0, h, exp(h) - 1)``, then a masked fill
    of the negative outputs of a second projection (``masked_fill(y < 0, 0)``)."""

    def __init__(self, d: int = 32, h: int = 64) -> None:
        super().__init__()
        self.up, self.down = nn.Linear(d, h), nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        y = self.down(torch.where(h > 0, h, torch.exp(h) - 1))
        return y.masked_fill(y < 0, 0.0)


class CumsumMixer(nn.Module):
    """Causal token mixing by a running sum: ``norm(x + 0.25 * cumsum(proj(x), dim=1))`` -> linear."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.proj, self.norm, self.out = nn.Linear(d, d), nn.LayerNorm(d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(x + 0.25 * torch.cumsum(self.proj(x), dim=1)))


class PadCausalAttention(nn.Module):
    """Hand-written causal self-attention with a padding mask: ``scores.masked_fill(~(pad & causal),
    -inf)`` with pad = attention_mask[:, None, :] (runtime) and a constant causal pattern."""

    def __init__(self, d: int = D_MODEL) -> None:
        super().__init__()
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.register_buffer("causal", torch.tril(torch.ones(SEQ, SEQ, dtype=torch.bool)))

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        keep = attention_mask.bool()[:, None, :] & self.causal
        p = torch.softmax(s.masked_fill(~keep, float("-inf")), dim=-1)
        return self.o(p @ v)


def _pad_causal_draw(g: torch.Generator) -> Inputs:
    return torch.randn(1, SEQ, D_MODEL, generator=g), (~_pad_mask(g, 1, SEQ)).long()


def _ops_case(seed: int, make: Callable[[], nn.Module],
             draw: Callable[[torch.Generator], Inputs]) -> Instance:
    with seeded(seed):
        m = make()
    return _instance(m, draw, seed)


# ------------------------------------------------------------------------------------------- table
def _c(name: str, group: str, desc: str, make: Callable[[], Instance], control: bool = False) -> Case:
    return Case(name, group, desc, make, control)


CASES: dict[str, Case] = {c.name: c for c in [
    # controls (compile today)
    _c("control_cnn", "control", "conv-BN-ReLU stem + residual basic block + GAP + linear, 1x3x16x16",
       lambda: _cnn(1, SmallResCNN, _images(1, 3, 16)), control=True),
    _c("control_bert", "control", "zoo BertClassifier 1L/32H/2 heads, ids (1, 8), no mask",
       lambda: _zoo_bert(2), control=True),
    _c("control_gcn", "control", "zoo GCN (8 -> 32 -> 4) on a 24-node graph",
       lambda: _gnn(3, "gcn"), control=True),
    # Hugging Face encoders
    _c("hf_bert_model", "hf", "BertModel 1L/32H, ids + attention_mask (1, 8) -> last_hidden_state",
       lambda: _hf_tokens(10, "bert", "BertModel", "last_hidden_state")),
    _c("hf_bert_model_ids", "hf", "BertModel 1L/32H, ids only (1, 8) -> last_hidden_state",
       lambda: _hf_tokens(11, "bert", "BertModel", "last_hidden_state", mask=False)),
    _c("hf_bert_seqcls", "hf", "BertForSequenceClassification 1L/32H, ids + mask (1, 8) -> logits",
       lambda: _hf_tokens(12, "bert", "BertForSequenceClassification", "logits", num_labels=4)),
    _c("hf_roberta", "hf", "RobertaModel 1L/32H, ids + mask (1, 8) -> last_hidden_state",
       lambda: _hf_tokens(13, "roberta", "RobertaModel", "last_hidden_state")),
    _c("hf_distilbert", "hf", "DistilBertModel 1L/32H, ids + mask (1, 8) -> last_hidden_state",
       lambda: _hf_tokens(14, "distilbert", "DistilBertModel", "last_hidden_state")),
    _c("hf_albert", "hf", "AlbertModel 1L/32H (emb 16), ids + mask (1, 8) -> last_hidden_state",
       lambda: _hf_tokens(15, "albert", "AlbertModel", "last_hidden_state")),
    _c("hf_electra", "hf", "ElectraModel 1L/32H (emb 16), ids + mask (1, 8) -> last_hidden_state",
       lambda: _hf_tokens(16, "electra", "ElectraModel", "last_hidden_state")),
    _c("hf_vit_model", "hf", "ViTModel 1L/32H, 3x32x32 patch 8 -> last_hidden_state",
       lambda: _hf_vit(17, "ViTModel", "last_hidden_state")),
    _c("hf_vit_cls", "hf", "ViTForImageClassification 1L/32H, 3x32x32 patch 8 -> logits",
       lambda: _hf_vit(18, "ViTForImageClassification", "logits")),
    # torch.nn attention
    _c("mha_bf", "attention", "MultiheadAttention(32, 4) batch_first, need_weights=False, (1, 8, 32)",
       lambda: _mha(20)),
    _c("mha_seqfirst", "attention", "MultiheadAttention(32, 4) seq-first, need_weights=False, (8, 1, 32)",
       lambda: _mha(21, batch_first=False)),
    _c("mha_weights", "attention", "MultiheadAttention batch_first, need_weights=True -> (out, avg weights)",
       lambda: _mha(22, need_weights=True)),
    _c("mha_weights_seqfirst", "attention", "MultiheadAttention batch_first=False, need_weights=True",
       lambda: _mha(23, batch_first=False, need_weights=True)),
    _c("mha_kpm", "attention", "MultiheadAttention batch_first + bool key_padding_mask input (1, 8)",
       lambda: _mha(24, kpm=True)),
    _c("mha_causal", "attention", "MultiheadAttention batch_first + constant causal bool attn_mask",
       lambda: _mha(25, causal=True)),
    _c("tel_bf", "attention", "TransformerEncoderLayer(32, 4, ff 64) batch_first, (1, 8, 32)",
       lambda: _tel(26)),
    _c("tel_seqfirst", "attention", "TransformerEncoderLayer batch_first=False, (8, 1, 32)",
       lambda: _tel(27, batch_first=False)),
    _c("tel_kpm", "attention", "TransformerEncoderLayer batch_first + bool src_key_padding_mask (1, 8)",
       lambda: _tel(28, kpm=True)),
    _c("tel_seqfirst_kpm", "attention", "TransformerEncoderLayer batch_first=False + src_key_padding_mask",
       lambda: _tel(29, batch_first=False, kpm=True)),
    # CNN blocks
    _c("mbv2_block", "cnn", "stem + MobileNetV2 inverted residual (16 -> 64 dw3x3 -> 16, ReLU6), 1x3x16x16",
       lambda: _cnn(30, lambda: BlockNet(InvertedResidual(16), 16), _images(1, 3, 16))),
    _c("convnext_block", "cnn", "stem + ConvNeXt block (dw7x7, LayerNorm, GELU, layer scale), 1x3x16x16",
       lambda: _cnn(31, lambda: BlockNet(ConvNeXtBlock(16), 16), _images(1, 3, 16))),
    _c("se_block", "cnn", "stem + squeeze-excitation x * sigmoid(fc(relu(fc(gap x)))), 1x3x16x16",
       lambda: _cnn(32, lambda: BlockNet(SqueezeExcite(16), 16), _images(1, 3, 16))),
    _c("convtranspose_decoder", "cnn", "ConvTranspose2d 4x4/2 x2 decoder, latent 16x8x8 -> 3x32x32",
       lambda: _cnn(33, Decoder, _images(1, 16, 8))),
    # gated MLPs
    _c("swiglu_mlp", "mlp", "SwiGLU MLP w2(silu(w1 x) * w3 x), 32 -> 64 -> 32, (1, 8, 32)",
       lambda: _mlp(40, SwiGLU)),
    _c("glu_mlp", "mlp", "GLU MLP Linear(32, 128) -> F.glu -> Linear(64, 32), (1, 8, 32)",
       lambda: _mlp(41, GLUMLP)),
    # PyG
    _c("pyg_gin", "gnn", "GINConv(MLP) x2 on a 24-node graph", lambda: _gnn(50, "gin")),
    _c("pyg_graphconv", "gnn", "GraphConv (add) x2 on a 24-node graph", lambda: _gnn(51, "graphconv")),
    _c("pyg_gat", "gnn", "GATConv (2 heads) -> ELU -> GATConv on a 24-node graph", lambda: _gnn(52, "gat")),
    _c("pyg_sage_mean", "gnn", "SAGEConv(aggr=mean) x2 on a 24-node graph", lambda: _gnn(53, "sage_mean")),
    _c("pyg_sage_max", "gnn", "SAGEConv(aggr=max) x2 on a 24-node graph", lambda: _gnn(54, "sage_max")),
    _c("pyg_gcn_meanpool", "gnn", "GCNConv x2 + global_mean_pool + linear, batch of 3 graphs (8+10+7 nodes)",
       lambda: _gnn_pool(55, "gcn", "mean", [8, 10, 7])),
    _c("pyg_gcn_addpool", "gnn", "GCNConv x2 + global_add_pool + linear, batch of 3 graphs (8+10+7 nodes)",
       lambda: _gnn_pool(56, "gcn", "add", [8, 10, 7])),
    _c("pyg_gin_addpool", "gnn", "GINConv x2 + global_add_pool + linear, batch of 2 graphs (12+9 nodes)",
       lambda: _gnn_pool(57, "gin", "add", [12, 9])),
    # comparisons, selects, boolean masks and cumsum (compiler/lower/ops/intops.py, select.py)
    _c("ids_window_encoder", "ops", "token encoder, masks from ids: cumsum position ids, (ids >= 3) & "
       "(0 < pos < 7) as MHA key_padding_mask, (1, 8)",
       lambda: _ops_case(80, PosWindowEncoder, _window_ids(1))),
    _c("where_gate_mlp", "ops", "hard-gated MLP down(where(gate(x) > 0, a(x), b(x))), (1, 8, 32)",
       lambda: _ops_case(81, WhereGateMLP, lambda g: (torch.randn(1, 8, 32, generator=g),))),
    _c("where_elu_mlp", "ops", "where(h > 0, h, exp(h) - 1) and masked_fill(y < 0, 0), (1, 8, 32)",
       lambda: _ops_case(82, WhereELUMLP, lambda g: (torch.randn(1, 8, 32, generator=g),))),
    _c("cumsum_mixer", "ops", "norm(x + 0.25 * cumsum(proj(x), dim=1)) -> linear (float cumsum), (1, 8, 32)",
       lambda: _ops_case(83, CumsumMixer, lambda g: (torch.randn(1, 8, 32, generator=g),))),
    _c("mha_kpm_causal", "attention", "MultiheadAttention batch_first + key_padding_mask input + constant "
       "causal attn_mask", lambda: _mha(84, causal=True, kpm=True)),
    _c("attn_pad_causal", "ops", "hand-written attention, masked_fill(~(attention_mask & causal), -inf), "
       "(1, 8, 32)", lambda: _ops_case(85, PadCausalAttention, _pad_causal_draw)),
    # batch > 1
    _c("control_cnn_n4", "batch", "control_cnn with N=4 images (4x3x16x16)",
       lambda: _cnn(60, SmallResCNN, _images(4, 3, 16))),
    _c("mbv2_block_n4", "batch", "mbv2_block with N=4 images", lambda: _cnn(
        61, lambda: BlockNet(InvertedResidual(16), 16), _images(4, 3, 16))),
    _c("hf_vit_cls_n4", "batch", "ViTForImageClassification with N=4 images", lambda: _hf_vit(
        62, "ViTForImageClassification", "logits", b=4)),
    _c("control_bert_b2", "batch", "control_bert with a token batch of 2 (2, 8)", lambda: _zoo_bert(63, b=2)),
    _c("hf_bert_seqcls_b2", "batch", "BertForSequenceClassification, ids + mask (2, 8)", lambda: _hf_tokens(
        64, "bert", "BertForSequenceClassification", "logits", b=2, num_labels=4)),
    _c("mha_bf_b2", "batch", "MultiheadAttention batch_first, batch 2 (2, 8, 32)", lambda: _mha(65, b=2)),
    _c("tel_kpm_b2", "batch", "TransformerEncoderLayer batch_first + src_key_padding_mask, batch 2",
       lambda: _tel(66, kpm=True, b=2)),
    _c("control_gcn_batched", "batch", "zoo GCN on a disjoint batch of 3 graphs (8+10+7 nodes)",
       lambda: _gnn(67, "gcn", [8, 10, 7])),
]}


_FAMILY = {"control": "custom", "ops": "custom", "hf": "bert", "attention": "bert", "mlp": "custom",
           "cnn": "resnet", "gnn": "gnn", "batch": "custom"}


def factory(name: str) -> Callable[[], dict[str, object]]:
    """``golden.models.coverage:NAME`` as a ``module.path:factory`` model spec (``regressions.verify``,
    ``python -m compiler``): the case's model, example, calibration and held-out batch; task "embed"
    (cosine against float; top-1 over a row's last dim is not a class decision for most rows)."""
    case = CASES[name]

    def make() -> dict[str, object]:
        model, example, calib, batch = case.build()
        return {"model": model, "example_inputs": example, "calibration": calib, "batch": batch,
                "name": name, "family": _FAMILY.get(case.group, "custom"), "task": "embed"}
    make.__name__ = name
    return make


def __getattr__(name: str) -> Callable[[], dict[str, object]]:
    if name in CASES:
        return factory(name)
    raise AttributeError(f"module 'golden.models.coverage' has no attribute {name!r}")


__all__ = ["CASES", "N_BATCH", "N_CALIB", "Case", "Instance", "factory"]
