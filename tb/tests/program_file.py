"""ProgramFileTest: run the Program files listed in the job (how compiled models run on the RTL).

``python -m tb.run build/resnet_tiny.nmxp --cfg 16x16 --seed 1`` and
:func:`tb.run.run_program` both end up here.
"""

from __future__ import annotations

import pyuvm

from tb.tests.base import NmxBaseTest


@pyuvm.test()
class ProgramFileTest(NmxBaseTest):
    """Runs every Program of ``job["runs"]`` (file path, seed, knobs) - see NmxBaseTest.make_runs."""
