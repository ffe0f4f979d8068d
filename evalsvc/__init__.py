"""evalsvc — open session server for remote cross-region bid evaluation (远程异地评标)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
