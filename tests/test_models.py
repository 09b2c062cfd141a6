"""Model zoo: registry contents, determinism, torch.export, accuracy of the trained small models.

Only "small" models are built here (the large ones take minutes; see docs/models.md for their
measured figures).  Building is cached per process, so each small model is trained once.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from golden.models import ZOO, accuracy, bert, gnn, resnet

SMALL = [n for n, s in ZOO.items() if s.size == "small"]

# Held-out top-1 accuracy each trained small model must reach (measured values in docs/models.md).
MIN_ACCURACY = {
    "resnet_tiny": 0.95, "resnet20": 0.85, "resnet18": 0.90,
    "bert_tiny": 0.88, "bert_mini": 0.88,
    "gcn_karate": 0.85, "sage_karate": 0.70,
}


def test_registry() -> None:
    assert {"resnet_tiny", "resnet20", "resnet18", "resnet50", "bert_tiny", "bert_mini", "bert_base",
            "gcn_karate", "sage_karate", "gcn_sbm", "sage_sbm"} <= set(ZOO)
    for name, s in ZOO.items():
        assert s.name == name
        assert s.family in ("resnet", "bert", "gnn")
        assert s.task in ("classify", "embed")
        assert s.size in ("small", "large")
        assert (s.targets is None) == (s.task == "embed")
    assert set(MIN_ACCURACY) == {n for n in SMALL if ZOO[n].task == "classify"}


@pytest.mark.parametrize("name", SMALL)
def test_build_and_export(name: str) -> None:
    spec = ZOO[name]
    model, example = spec.build()
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    with torch.no_grad():
        ref = model(*example)
        ep = torch.export.export(model, example)
        out = ep.module()(*example)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)
    # a second build hands out a fresh module with identical weights
    model2, example2 = spec.build()
    assert model2 is not model
    with torch.no_grad():
        assert torch.equal(model2(*example2), ref)


@pytest.mark.parametrize("name", SMALL)
def test_inputs(name: str) -> None:
    spec = ZOO[name]
    _, example = spec.build()
    cal, b0, b0b, b1 = spec.calibration(4), spec.batch(4, 0), spec.batch(4, 0), spec.batch(4, 1)
    assert len(cal) == len(b0) == 4
    for inp in [*cal, *b0, *b1]:
        assert len(inp) == len(example)
        for t, e in zip(inp, example, strict=True):
            assert t.shape == e.shape and t.dtype == e.dtype
    assert all(torch.equal(a[0], b[0]) for a, b in zip(b0, b0b, strict=True))  # seeded
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(b0, b1, strict=True))  # seed matters
    assert not torch.equal(b0[0][0], b0[1][0])  # distinct items
    if spec.targets is not None:
        assert len(spec.targets(4, 0)) == 4


def test_realistic_inputs() -> None:
    (img,) = ZOO["resnet20"].batch(1, 0)[0]
    assert img.shape == (1, 3, 32, 32)
    assert img.std() > 0.5 and not torch.equal(img[0, 0], img[0, 1])  # coloured, structured
    (ids,) = ZOO["bert_tiny"].batch(1, 0)[0]
    assert ids.shape == (1, 32) and ids.dtype == torch.int64
    assert ids[0, 0] == 1 and ids[0, -1] == 2 and int(ids.max()) < bert.RECIPES["bert_tiny"].vocab
    x, ei = ZOO["gcn_karate"].batch(1, 0)[0]
    assert x.shape == (34, 34) and ei.shape == (2, 156)


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_accuracy(name: str) -> None:
    assert accuracy(name) >= MIN_ACCURACY[name]


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_deterministic_training() -> None:
    """Training again from scratch (not from the cache) reproduces the weights bit for bit."""
    a, b = (resnet.train_resnet(resnet._seeded_arch(resnet.resnet_tiny_arch, 0), 16, 1, epochs=2, seed=0,
                                threads=1) for _ in range(2))
    assert _same(a, b)
    r = gnn.RECIPES["sage_karate"]
    g = gnn.graph_of("sage_karate")
    m1, m2 = (gnn.train(gnn._arch("sage_karate"), g, r) for _ in range(2))
    assert _same(m1, m2)
    short = dataclasses.replace(bert.RECIPES["bert_tiny"], train_steps=3)
    b1, b2 = (bert.train(bert._arch("bert_tiny"), short) for _ in range(2))
    assert _same(b1, b2)


def test_construction_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    threads = torch.get_num_threads()
    ZOO["gcn_karate"].build()
    ZOO["resnet_tiny"].build()
    ZOO["bert_tiny"].batch(2, 0)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.get_num_threads() == threads


def test_resnet_tiny_is_small() -> None:
    model, example = ZOO["resnet_tiny"].build()
    assert resnet.macs(model, example) < 200_000
    assert sum(p.numel() for p in model.parameters()) < 10_000


def test_bn_stats_nontrivial() -> None:
    for name in ("resnet_tiny", "resnet20", "resnet18"):
        model, _ = ZOO[name].build()
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert bns
        for m in bns:
            assert not torch.allclose(m.running_mean, torch.zeros_like(m.running_mean))
            assert not torch.allclose(m.running_var, torch.ones_like(m.running_var))
    m50 = resnet.resnet50_arch()  # architecture only (no calibration): the layout is right
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in m50.modules()) == 1
    assert sum(p.numel() for p in m50.parameters()) == pytest.approx(23.5e6, rel=0.01)


@pytest.mark.parametrize("name", ["gcn_karate", "sage_karate"])
def test_dense_gnn_matches_pyg(name: str) -> None:
    model, (_, ei) = ZOO[name].build()
    dense, (xd,) = gnn.build_dense(name)
    for xi, _ in ZOO[name].batch(3, 5):
        with torch.no_grad():
            assert torch.allclose(dense(xi), model(xi, ei), atol=1e-5, rtol=1e-5)
    ep = torch.export.export(dense, (xd,))
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not any("scatter" in o or "index" in o for o in ops), ops


def test_dense_adjacency_definitions() -> None:
    # path 0 - 1 - 2 plus a directed edge 3 -> 0 and a duplicate 0 -> 1
    ei = torch.tensor([[0, 1, 1, 2, 3, 0], [1, 0, 2, 1, 0, 1]])
    p = gnn.dense_normalized_adjacency(ei, 4, "gcn").double()
    a = torch.zeros(4, 4, dtype=torch.float64)
    for s, t in ei.t().tolist():
        a[t, s] += 1
    a += torch.eye(4)
    d = a.sum(1)
    assert torch.allclose(p, a / torch.sqrt(d[:, None] * d[None, :]), atol=1e-7)
    m = gnn.dense_normalized_adjacency(ei, 4, "mean").double()
    assert torch.allclose(m.sum(1), torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64))
    assert m[1, 0] == pytest.approx(2 / 3)  # duplicate edge counted twice, like PyG's scatter mean
    # agrees with the PyG layers on a random graph with duplicates and an isolated node
    from torch_geometric.nn import GCNConv, SAGEConv

    torch.manual_seed(0)
    ei = torch.randint(0, 9, (2, 30))
    ei = ei[:, ei[0] != ei[1]]
    x = torch.randn(10, 5)
    gcn = GCNConv(5, 3, bias=False)
    sage = SAGEConv(5, 3, aggr="mean", root_weight=False, bias=False)
    with torch.no_grad():
        p_gcn = gnn.dense_normalized_adjacency(ei, 10, "gcn")
        p_mean = gnn.dense_normalized_adjacency(ei, 10, "mean")
        assert torch.allclose(p_gcn @ gcn.lin(x), gcn(x, ei), atol=1e-5)
        assert torch.allclose(sage.lin_l(p_mean @ x), sage(x, ei), atol=1e-5)


def test_karate_is_builtin() -> None:
    """KarateClub is in memory: constructing it needs no root directory and touches no files."""
    from torch_geometric.datasets import KarateClub

    d = KarateClub()[0]
    assert d.num_nodes == 34 and d.num_edges == 156
