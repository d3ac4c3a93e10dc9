"""Likeness: the project kernel shared by every package — its version and the base error.

Every other top-level package (media, speech, faces, policy, consent, audit, generator, provenance,
detector, partners, generations, training, gateway) may import this one; it imports nothing of ours.

>>> from likeness import LikenessError, __version__
>>> issubclass(LikenessError, Exception)
True
"""

from likeness.errors import LikenessError

__version__ = "0.1.0"

__all__ = ["LikenessError", "__version__"]
