"""ResNets written from scratch (no torchvision): CIFAR-style ResNet-20, ResNet-18 and ResNet-50
with the ImageNet stem (7x7/2 conv + 3x3/2 max-pool), and a tiny ResNet for RTL smoke tests.

Only ops the NMX compiler is meant to lower appear: Conv2d (no bias) + BatchNorm2d (+ ReLU),
residual add, MaxPool2d (ImageNet stem only), AdaptiveAvgPool2d(1), flatten, Linear.

Weights (see docs/models.md):

* ``resnet_tiny`` is trained end to end on 16x16 greyscale digits (deterministic, ~10 s, 1 thread).
* the others are random-feature networks: seeded Kaiming init, random BN affine parameters
  (the last BN of every residual branch damped, as in trained ResNets, so the features are a
  stable function of the input), BatchNorm running statistics calibrated on digit images (so
  folding is exercised with real, non-trivial mean/var), and a linear head fitted by logistic
  regression on the pooled features, so the logits carry real class margins and top-1 agreement
  is meaningful.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from golden.models import data
from golden.models._util import disk_cached, freeze, recipe_key, seeded, state_copy


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual; 1x1 conv-BN projection when the shape changes."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), torchvision "v1.5" placement of the stride."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


class ResNet(nn.Module):
    """Generic ResNet: stem conv-BN-ReLU (optional max-pool), stages of blocks, avg-pool, linear.

    ``stages`` is a list of (width, blocks, stride).
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], stages: Sequence[tuple[int, int, int]],
                 in_ch: int = 3, stem_width: int = 16, stem_kernel: int = 3, stem_stride: int = 1,
                 maxpool: bool = False, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, stem_width, stem_kernel, stem_stride, stem_kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU()
        self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1) if maxpool else nn.Identity()
        layers: list[nn.Module] = []
        cin = stem_width
        for width, blocks, stride in stages:
            blks: list[nn.Module] = []
            for b in range(blocks):
                blks.append(block(cin, width, stride if b == 0 else 1))
                cin = width * block.expansion
            layers.append(nn.Sequential(*blks))
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature vector (the input of ``fc``)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return torch.flatten(self.avgpool(self.layers(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


# --------------------------------------------------------------------------------- architectures
def resnet_tiny_arch() -> ResNet:
    """~136k MACs at 1x16x16: stem 3x3/2 1->8, identity block 8->8 @8x8, projection block 8->16 @4x4."""
    return ResNet(BasicBlock, [(8, 1, 1), (16, 1, 2)], in_ch=1, stem_width=8, stem_stride=2)


def resnet20_arch() -> ResNet:
    """He et al. CIFAR ResNet-20 (3 stages x 3 blocks, 16/32/64), projection shortcuts, no max-pool."""
    return ResNet(BasicBlock, [(16, 3, 1), (32, 3, 2), (64, 3, 2)], in_ch=3, stem_width=16)


def resnet18_arch() -> ResNet:
    """ImageNet ResNet-18 layout (7x7/2 stem + max-pool, 64..512) applied to 32x32 inputs."""
    return ResNet(BasicBlock, [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)], in_ch=3,
                  stem_width=64, stem_kernel=7, stem_stride=2, maxpool=True)


def resnet50_arch() -> ResNet:
    """ImageNet ResNet-50 (bottlenecks 3/4/6/3) at 224x224; 10-class head (grey digits x 3 channels)."""
    return ResNet(Bottleneck, [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], in_ch=3,
                  stem_width=64, stem_kernel=7, stem_stride=2, maxpool=True)


# ------------------------------------------------------------------------------ weight recipes
def _randomise_bn_affine(model: nn.Module, g: torch.Generator) -> None:
    """gamma ~ U(0.6, 1.4), beta ~ N(0, 0.1): BN folding must handle a real affine transform."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(0.6 + 0.8 * torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))


def _damp_residual_branches(model: nn.Module, scale: float) -> None:
    """Multiply the affine (gamma, beta) of the last BN of every residual branch by ``scale``.

    With gamma ~ U(0.6, 1.4) there as well, every block adds a unit-variance random function to
    its input and a deep stack (ResNet-50: 16 blocks) is chaotic: 1% noise after the stem leaves
    the logits at cosine ~0.66 in float (0.998 with the branches damped by 0.25), so no int8
    deployment can track it.  Trained ResNets have small residual-branch gammas (zero-gamma
    init, Goyal et al. 2017; torchvision ``zero_init_residual``).
    """
    for m in model.modules():
        last = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
        if last is not None:
            with torch.no_grad():
                last.weight.mul_(scale)
                last.bias.mul_(scale)


@torch.no_grad()
def calibrate_bn(model: nn.Module, images: torch.Tensor, batch: int = 64) -> None:
    """Set BN running stats to the (cumulative) batch statistics of ``images``."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    for i in range(0, len(images), batch):
        model(images[i:i + batch])
    for m in bns:
        m.momentum = 0.1
    model.eval()


@torch.no_grad()
def fit_head(model: ResNet, images: torch.Tensor, labels: torch.Tensor, batch: int = 64) -> float:
    """Fit ``model.fc`` by L2-regularised multinomial logistic regression on pooled features.

    Returns the training accuracy.  lbfgs in scikit-learn is deterministic.
    """
    from sklearn.linear_model import LogisticRegression

    model.eval()
    feats = torch.cat([model.features(images[i:i + batch]) for i in range(0, len(images), batch)])
    f = feats.double().numpy()
    mu, sd = f.mean(0), f.std(0) + 1e-6
    clf = LogisticRegression(C=1.0, max_iter=2000)
    clf.fit((f - mu) / sd, labels.numpy())
    w = clf.coef_ / sd  # undo the standardisation so fc acts on raw features
    b = clf.intercept_ - (clf.coef_ * (mu / sd)).sum(1)
    model.fc.weight.copy_(torch.tensor(w, dtype=torch.float32))
    model.fc.bias.copy_(torch.tensor(b, dtype=torch.float32))
    return float(clf.score((f - mu) / sd, labels.numpy()))


def random_feature_resnet(arch: ResNet, seed: int, images: tuple[torch.Tensor, torch.Tensor], n_calib: int,
                          n_head: int, residual_scale: float = 0.1) -> ResNet:
    """Random-feature recipe: seeded init, random BN affine (residual-branch BNs damped by
    ``residual_scale``, see :func:`_damp_residual_branches`), BN calibrated, head fitted.

    Forward passes only, so it runs with all threads (ResNet-50 at 224x224 is ~4 GMAC per image);
    bit-exactness across machines with different thread counts is therefore not guaranteed
    for this recipe (it is within one machine, and the disk cache pins the result).
    """
    with seeded(seed, threads=None) as g:
        model = arch
        _randomise_bn_affine(model, g)
        _damp_residual_branches(model, residual_scale)
        x, y = images
        calibrate_bn(model, x[:n_calib], batch=16)
        fit_head(model, x[:n_head], y[:n_head], batch=16)
    return freeze(model)


def train_resnet(arch: ResNet, size: int, channels: int, epochs: int, seed: int, threads: int,
                 lr: float = 3e-3) -> ResNet:
    """Train end to end on the digits training split: Adam, batch 64, one-cycle LR, +-1 pixel shifts.

    Runs with a pinned thread count so the result is reproducible (CPU kernels reduce in a
    thread-count-dependent order).
    """
    with seeded(seed, threads=threads) as g:
        model = arch
        x, y = data.digits("train", size, channels)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
        steps = epochs * ((len(y) + 63) // 64)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(y), generator=g)
            for i in range(0, len(y), 64):
                xb, yb = x[perm[i:i + 64]], y[perm[i:i + 64]]
                dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
                xb = torch.roll(xb, shifts=(dx, dy), dims=(2, 3))
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
    return freeze(model)


def _make_state(name: str) -> dict[str, torch.Tensor]:
    if name == "resnet_tiny":
        return state_copy(train_resnet(_seeded_arch(resnet_tiny_arch, 0), 16, 1, epochs=TRAIN_EPOCHS[name],
                                       seed=0, threads=1))
    if name in ("resnet20", "resnet18"):
        seed = int(name[6:])
        return state_copy(train_resnet(_seeded_arch(_ARCH[name], seed), 32, 3, epochs=TRAIN_EPOCHS[name],
                                       seed=seed, threads=1))
    if name == "resnet50":
        return state_copy(random_feature_resnet(_seeded_arch(resnet50_arch, 50), 50, _images(name, "train"),
                                                32, 256))
    raise KeyError(name)


@functools.cache
def _cached_state(name: str) -> dict[str, torch.Tensor]:
    """Build once per process and once per machine (disk cache; training is the slow part).

    The key hashes the code of the model's own recipe only, so editing the random-feature recipe
    does not retrain the trained ResNets (and vice versa).
    """
    recipe = ([random_feature_resnet, _randomise_bn_affine, _damp_residual_branches, calibrate_bn, fit_head]
              if name == "resnet50" else [train_resnet])
    code = [_make_state, _ARCH[name], ResNet, BasicBlock, Bottleneck, *recipe, _seeded_arch, _images,
            data.digits, data._digits_raw]
    return disk_cached(recipe_key(name, TRAIN_EPOCHS.get(name), _INPUT[name], code=code),
                       lambda: _make_state(name))


TRAIN_EPOCHS = {"resnet_tiny": 20, "resnet20": 5, "resnet18": 5}
_ARCH = {"resnet_tiny": resnet_tiny_arch, "resnet20": resnet20_arch, "resnet18": resnet18_arch,
         "resnet50": resnet50_arch}
_INPUT = {"resnet_tiny": (16, 1, False), "resnet20": (32, 3, True), "resnet18": (32, 3, True),
          "resnet50": (224, 3, False)}
"""(size, channels, colour): resnet50's random features need grey images replicated to 3 channels."""


def _seeded_arch(fn: functools.partial | type | object, seed: int) -> ResNet:
    with seeded(seed, threads=None):
        return fn()  # type: ignore[operator]


def build(name: str) -> tuple[ResNet, tuple[torch.Tensor, ...]]:
    """A fresh eval-mode copy of the named ResNet and a (1, C, H, W) example input (test image 0)."""
    model = _seeded_arch(_ARCH[name], 0)  # init values are overwritten; seeded keeps global RNG untouched
    model.load_state_dict(_cached_state(name))
    return freeze(model), batch(name, 1, 0)[0]


def _images(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    size, ch, colour = _INPUT[name]
    return data.digits(split, size, ch, colour)


def calibration(name: str, n: int) -> list[tuple[torch.Tensor, ...]]:
    """``n`` single-image inputs from the training split (what BN/head calibration also saw)."""
    x, _ = _images(name, "train")
    return [(x[i:i + 1],) for i in data.pick(len(x), n, 7)]


def batch(name: str, n: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """``n`` single-image inputs from the held-out split, seeded selection."""
    x, _ = _images(name, "test")
    return [(x[i:i + 1],) for i in data.pick(len(x), n, seed)]


def targets(name: str, n: int, seed: int) -> list[torch.Tensor]:
    """Labels aligned with ``batch(name, n, seed)``."""
    _, y = _images(name, "test")
    return [y[i:i + 1] for i in data.pick(len(y), n, seed)]


def accuracy(name: str, n: int | None = None) -> float:
    """Held-out top-1 accuracy of the float model (batched); ResNet-50 uses 100 images by default."""
    n = n if n is not None else (100 if name == "resnet50" else 500)
    model, _ = build(name)
    x, y = _images(name, "test")
    x, y = x[:n], y[:n]
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 100]).argmax(-1) for i in range(0, len(x), 100)])
    return float((pred == y).float().mean())


def macs(model: nn.Module, example: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of conv and linear layers for one example (hooks, no export)."""
    total = [0]

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))
        elif isinstance(m, nn.Linear):
            total[0] += out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(*example)
    for h in hs:
        h.remove()
    return total[0]


def resnet50_random(n_calib: int = 4) -> tuple[ResNet, tuple[torch.Tensor], list[tuple[torch.Tensor]]]:
    """A seeded random-weight ResNet-50 at 224x224 with random calibration images, for traffic and
    cycle measurements that must not wait for the zoo's trained weights (the traffic depends on the
    weights only through all-zero tiles: docs/performance.md checks it against the zoo model):
    ``python -m compiler.perf golden.models.resnet:resnet50_random --calib 4``."""
    g = torch.Generator().manual_seed(0)
    model = _seeded_arch(resnet50_arch, 0).eval()
    return (model, (torch.randn(1, 3, 224, 224, generator=g),),
            [(torch.randn(1, 3, 224, 224, generator=g),) for _ in range(n_calib)])
