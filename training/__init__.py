"""Training: workflows that cross packages to train and calibrate models. Nothing imports it.

>>> import training.detector as twins
>>> twins.DEFAULT_SECONDS
12.0

:mod:`training.detector` builds the companion classifier's dataset from real clips and the
generator's *twins* of them, and fits the combined model out of fold; ``likeness detector train``
and ``likeness detector stack`` run it. The generator and the detector must not import each
other; this package may import both (and everything else but ``gateway``).
"""
