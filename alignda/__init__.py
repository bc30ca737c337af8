"""Align-DA Studio: score-based data assimilation aligned with rewards, on a shallow-water world."""

__version__ = "0.1.0"
