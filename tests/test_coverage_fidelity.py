"""Issue 12 in ``make test``: small instances of architectures from outside the zoo compile and the
golden simulator matches float PyTorch (cosine >= 0.99 over the case's 8 held-out inputs).

One row per kind the other test files do not already pin (tests/test_conv_more.py,
test_product.py, test_masks.py and test_graph_max.py hold the op-level cases); the whole matrix,
every row, is ``python -m compiler.coverage_matrix`` (docs/compiler.md, "Model coverage").
"""

from __future__ import annotations

import pytest

from compiler.coverage_matrix import run_case

ROWS = [
    "hf_bert_seqcls",      # BERT classifier with a runtime attention mask
    "hf_albert",           # shared layers, factorised embedding
    "hf_electra",
    "hf_vit_model",        # patch-embedding convolution, CLS token
    "mha_seqfirst",        # nn.MultiheadAttention, batch_first=False, scaled_dot_product_attention path
    "tel_seqfirst_kpm",    # TransformerEncoderLayer, seq-first, bool padding mask
    "convnext_block",      # depthwise 7x7, channels-last LayerNorm, GELU, layer scale
    "se_block",            # squeeze-excitation: x * sigmoid(fc(pool(x)))
    "glu_mlp",
    "pyg_gin",
    "pyg_graphconv",
    "pyg_gcn_meanpool",    # graph classification over a batch of graphs
    "mbv2_block_n4",       # batch of 4 images
    "control_bert_b2",     # token batch of 2
]


@pytest.mark.parametrize("name", ROWS)
def test_row_compiles_and_matches_float(name: str) -> None:
    r = run_case(name)
    assert r["compiled"] and r["simulated"], r.get("error")
    assert r["n_samples"] == 8
    assert r["cosine_min"] >= 0.99, (name, r["cosine_min"])
