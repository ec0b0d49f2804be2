"""Hosted API prices: one TOML file per provider, read by :mod:`levers.api`."""
