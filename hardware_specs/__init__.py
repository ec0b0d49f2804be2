"""Accelerator data files: one ``<id>.toml`` per chip, read by :mod:`levers.specs`."""
