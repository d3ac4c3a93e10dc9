"""Deprecated: ``python -m gateway.detector_train stack …`` is now ``likeness detector stack …``
(or ``python -m training.detector stack …``); the workflow lives in :mod:`training.detector`."""

from __future__ import annotations

import warnings

if __name__ == "__main__":
    warnings.warn("`python -m gateway.detector_train` is deprecated: use `likeness detector stack`",
                  DeprecationWarning, stacklevel=1)
    from training.detector import main

    main()
