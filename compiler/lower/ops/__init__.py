"""One module per op family; importing this package registers every lowering.

Each module decorates its lowerings with ``compiler.lower.registry.lowers``.  The imports below
exist only for that side effect (the order does not matter: see the registry's ``prio`` rule).
"""

from compiler.lower.ops import (  # noqa: F401
    conv,
    conv_grouped,
    conv_transpose,
    eltwise,
    embed,
    gather,
    graph,
    graph_attention,
    graph_max,
    intops,
    mask,
    matmul,
    norm,
    pool,
    product,
    reduce,
    select,
    softmax,
)
