"""Model architectures: the figures that set weight bytes, KV bytes and FLOPs.

Each model is one TOML file in :mod:`levers.model_specs`, read lazily through
``importlib.resources`` (so it works from a wheel and in Pyodide). A model not
in the catalog can be given by its parameter count alone: see :func:`custom`.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
from importlib import resources

from .errors import InputError, SpecError

_PACKAGE = "levers.model_specs"

# key -> (type, required)
_SCHEMA: dict[str, tuple[type, bool]] = {
    "id": (str, True),
    "name": (str, True),
    "layers": (int, True),
    "hidden_size": (int, True),
    "attention_heads": (int, True),
    "kv_heads": (int, True),
    "head_dim": (int, True),
    "params_total_B": (float, True),
    "params_active_B": (float, True),
    "experts": (int, False),
    "experts_per_token": (int, False),
    "kv_elements_per_token_per_layer": (int, False),
    "attention_qk_dim": (int, False),
    "attention_v_dim": (int, False),
    "source": (str, True),
    "as_of": (str, True),
}


@dataclass(frozen=True)
class Model:
    """One model's architecture.

    Attributes
    ----------
    layers, hidden_size, attention_heads, kv_heads, head_dim
        Transformer shape. ``head_dim`` is the query/key width per head.
    params_total_B, params_active_B
        Parameters [billions]; they differ only for mixture-of-experts models,
        where each token uses ``experts_per_token`` of ``experts`` experts.
    kv_elements_per_token_per_layer
        Cached values per token per layer. ``2 * kv_heads * head_dim`` (a key
        and a value per KV head) unless the file overrides it (DeepSeek's
        latent attention caches one compressed vector instead).
    attention_qk_dim, attention_v_dim
        Width per head of the query-key product and of the value sum as the
        attention kernel computes them; ``head_dim`` unless the file overrides
        them (latent attention attends in its compressed space).
    derived
        True for a model built by :func:`custom` from a parameter count.
    """

    id: str
    name: str
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    params_total_B: float
    params_active_B: float
    experts: int = 1
    experts_per_token: int = 1
    kv_elements_per_token_per_layer: int = 0
    attention_qk_dim: int = 0
    attention_v_dim: int = 0
    source: str = ""
    as_of: str = ""
    derived: bool = False

    @property
    def kv_elements_per_token(self) -> int:
        """Cached KV elements per token across all layers [elements/token]."""
        per_layer = self.kv_elements_per_token_per_layer or 2 * self.kv_heads * self.head_dim
        return self.layers * per_layer

    def kv_bytes_per_token(self, bytes_per_element: float) -> float:
        """KV-cache bytes one token occupies [B/token].

        ``layers x (2 x kv_heads x head_dim) x bytes_per_element``: a key and a
        value vector per KV head per layer. For Llama 3.1 70B in BF16 that is
        80 x 2 x 8 x 128 x 2 = 327,680 B (320 KiB) per token.
        """
        return self.kv_elements_per_token * bytes_per_element

    def attention_flops_per_token(self, context_tokens: float) -> float:
        """Attention FLOPs for one token that attends to ``context_tokens`` [FLOP].

        Scores (q . k) cost one multiply-add per query-key dimension and the
        weighted sum of values one per value dimension, per head per context
        position: ``2 x layers x heads x (qk_dim + v_dim) x context``, which is
        ``4 x layers x heads x head_dim x context`` for ordinary attention. The
        projection FLOPs are in ``2 x active params``.

        DeepSeek-V3's latent attention, served with the up-projections absorbed
        into the query and the output (as its decode kernels run it), attends
        over the cached 512-dim latent plus the 64-dim RoPE key: qk 576, v 512,
        so ``2 x 61 x 128 x 1088 = 17.0 MFLOP`` per context token, 2.8x the
        ``4 x 61 x 128 x 192`` of ordinary attention with its 192-dim heads.
        """
        qk = self.attention_qk_dim or self.head_dim
        v = self.attention_v_dim or self.head_dim
        return 2.0 * self.layers * self.attention_heads * (qk + v) * context_tokens

    def weight_bytes_read(self, batch: float, bytes_per_param: float) -> float:
        """Weight bytes one decode step streams from memory [B].

        A dense model reads all its weights each step. A mixture-of-experts
        model reads its shared part plus the experts the batch touches: with
        ``f = experts_per_token / experts``, one token misses a given expert
        with probability ``1 - f``, so a batch of ``b`` tokens touches a share
        ``1 - (1 - f)^b`` of the expert weights. Expert weights ``E`` follow
        from ``total = shared + E`` and ``active = shared + f E``.
        """
        total = self.params_total_B * 1e9
        if self.experts <= 1 or self.params_total_B <= self.params_active_B:
            return total * bytes_per_param
        f = self.experts_per_token / self.experts
        expert = (total - self.params_active_B * 1e9) / (1.0 - f)
        shared = total - expert
        touched = 1.0 - (1.0 - f) ** max(batch, 1.0)
        return (shared + expert * touched) * bytes_per_param


def _check(data: dict, filename: str) -> Model:
    for key in data:
        if key not in _SCHEMA:
            raise SpecError(f"{filename}: {key}", f"unknown key; allowed: {', '.join(_SCHEMA)}")
    values = {}
    for key, (typ, required) in _SCHEMA.items():
        if key not in data:
            if required:
                raise SpecError(f"{filename}: {key}", "missing required field")
            continue
        v = data[key]
        if typ is str:
            if not isinstance(v, str) or not v.strip():
                raise SpecError(f"{filename}: {key}", f"must be non-empty text, got {v!r}")
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            if not ok or not math.isfinite(v) or v <= 0 or (typ is int and v != int(v)):
                kind = "a positive whole number" if typ is int else "a positive number"
                raise SpecError(f"{filename}: {key}", f"must be {kind}, got {v!r}")
            v = typ(v)
        values[key] = v
    stem = filename.rsplit("/", 1)[-1].removesuffix(".toml")
    if values["id"] != stem:
        raise SpecError(f"{filename}: id", f"must match the file name {stem!r}, got {values['id']!r}")
    if values["params_active_B"] > values["params_total_B"]:
        raise SpecError(f"{filename}: params_active_B", "must not exceed params_total_B")
    if values.get("experts_per_token", 1) > values.get("experts", 1):
        raise SpecError(f"{filename}: experts_per_token", "must not exceed experts")
    return Model(**values)


def parse(text: str, filename: str) -> Model:
    """Parse and validate one model file; raise :class:`SpecError` naming the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(filename, f"not valid TOML: {exc}") from None
    return _check(data, filename)


@functools.cache
def load_all() -> dict[str, Model]:
    """Every catalog model, keyed by id (read once, on first call)."""
    out = {}
    for entry in sorted(resources.files(_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            model = parse(entry.read_text(encoding="utf-8"), f"levers/model_specs/{entry.name}")
            out[model.id] = model
    return out


def ids() -> list[str]:
    """Catalog model ids, plus ``custom`` (a model given by its size alone)."""
    return [*load_all(), "custom"]


def custom(params_B: float, *, id: str = "custom") -> Model:
    """A dense model of ``params_B`` billion parameters with a derived shape.

    The shape follows the Llama family's proportions, which fit 8B to 405B
    within about 15% on KV bytes per token:

    * parameters ``P ~ 12 L d^2`` (attention plus a gated MLP per layer),
    * hidden size ``d ~ 128 L`` (8B: 4096/32, 70B: 8192/80, 405B: 16384/126),

    so ``L = (P / (12 x 128^2))^(1/3)``, ``d = sqrt(P / (12 L))`` rounded to a
    multiple of 128, heads of 128 dims, and 8 KV heads (grouped-query
    attention, as every current open model of this size uses).
    """
    p = params_B * 1e9
    layers = max(1, round((p / (12 * 128**2)) ** (1 / 3)))
    hidden = max(128, 128 * round(math.sqrt(p / (12 * layers)) / 128))
    heads = hidden // 128
    return Model(
        id=id,
        name=f"Custom {params_B:g}B (shape derived)",
        layers=layers,
        hidden_size=hidden,
        attention_heads=heads,
        kv_heads=min(8, heads),
        head_dim=128,
        params_total_B=params_B,
        params_active_B=params_B,
        source="derived from the parameter count (levers.models.custom)",
        as_of="",
        derived=True,
    )


def get(model_id: str, params_B: float | None = None, *, field: str = "model") -> Model:
    """Look a model up by id; ``custom`` needs ``params_B``.

    Raises
    ------
    InputError
        For an unknown id, naming ``field`` and the allowed ids.
    """
    if model_id == "custom":
        if params_B is None:
            raise InputError(field, "'custom' needs a parameter count")
        return custom(params_B)
    catalog = load_all()
    if model_id not in catalog:
        raise InputError(field, f"unknown model {model_id!r}; allowed: {', '.join(ids())}")
    return catalog[model_id]
