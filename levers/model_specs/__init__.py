"""Model architecture data: one TOML file per model, read by :mod:`levers.models`."""
