"""skops for the fire line, imported without torch.

Importing skops lists scikit-learn's estimators, a walk that imports every subpackage, the
bundled array-API shim for torch included, and that shim imports torch (seconds) wherever it is
installed. The fire line never hands torch arrays to scikit-learn: the shim is marked absent
first (the walk skips what fails to import), so the fire stages and server start without torch.
"""

# ruff: noqa: E402
import sys

sys.modules.setdefault("sklearn.externals.array_api_compat.torch", None)  # type: ignore[arg-type]

import skops
import skops.io as sio

__all__ = ["skops", "sio"]
