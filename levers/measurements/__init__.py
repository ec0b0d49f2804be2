"""Published serving measurements, one TOML file per source (see :mod:`levers.validate`)."""
