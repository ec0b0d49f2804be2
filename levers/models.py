"""Model architectures: the figures that set weight bytes, KV bytes and FLOPs.

Each model is one TOML file in :mod:`levers.model_specs`, read lazily through
``importlib.resources`` (so it works from a wheel and in Pyodide). A model not
in the catalog can be given by its parameter count alone: see :func:`custom`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .datafile import Field, check_table, parse_text, read
from .errors import InputError, SpecError

_PACKAGE = "levers.model_specs"

#: Every field of a model file, with a plausible range: about two orders of
#: magnitude around today's open models, so a typo fails on load.
_SCHEMA: dict[str, Field] = {
    "id": Field("str"),
    "name": Field("str"),
    "layers": Field("int", lo=1, hi=1000, unit="layers"),
    "hidden_size": Field("int", lo=64, hi=200_000, unit="elements"),
    "attention_heads": Field("int", lo=1, hi=1024, unit="heads"),
    "kv_heads": Field("int", lo=1, hi=1024, unit="heads"),
    "head_dim": Field("int", lo=8, hi=1024, unit="elements"),
    "params_total_B": Field("number", lo=0.01, hi=100_000, unit="B params"),
    "params_active_B": Field("number", lo=0.01, hi=100_000, unit="B params"),
    "experts": Field("int", required=False, lo=1, hi=100_000, unit="experts"),
    "experts_per_token": Field("int", required=False, lo=1, hi=100_000, unit="experts"),
    "kv_elements_per_token_per_layer": Field("int", required=False, lo=1, hi=10_000_000, unit="elements"),
    "attention_qk_dim": Field("int", required=False, lo=8, hi=100_000, unit="elements"),
    "attention_v_dim": Field("int", required=False, lo=8, hi=100_000, unit="elements"),
    "context_window_tokens": Field("int", lo=256, hi=100_000_000, unit="tokens"),
    "source": Field("str"),
    "as_of": Field("date"),
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
    context_window_tokens
        Longest sequence, prompt plus reply, the model is configured for
        [tokens] (``max_position_embeddings`` in its config); ``None`` for a
        model derived from a parameter count.
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
    context_window_tokens: int | None = None
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

    @property
    def expert_params_B(self) -> float:
        """Parameters in the routed experts [billions]; 0 for a dense model.

        With ``f = experts_per_token / experts``, ``total = shared + E`` and
        ``active = shared + f x E`` give ``E = (total - active) / (1 - f)``.
        DeepSeek-V3: ``(671 - 37) / (1 - 8/256) = 654.5``B in experts, 16.5B
        shared (attention, dense layers, the shared expert, embeddings).
        """
        if self.experts <= 1 or self.params_total_B <= self.params_active_B:
            return 0.0
        return (self.params_total_B - self.params_active_B) / (1.0 - self.experts_per_token / self.experts)

    @property
    def kv_shards(self) -> int:
        """Parts the KV cache of one token splits into across tensor-parallel GPUs.

        Each GPU keeps the KV heads of its attention heads: ``kv_heads`` parts.
        A group wider than that repeats each KV head on ``tp / kv_heads`` GPUs
        (vLLM replicates KV heads when there are fewer than the tensor-parallel
        size, ``vllm/model_executor/models/llama.py``). Latent attention caches
        one vector per token that every head reads, so it does not split: 1.
        """
        return 1 if self.kv_elements_per_token_per_layer else self.kv_heads

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
    """Validate a parsed model file against the schema and the relations between fields."""
    values = check_table(filename, "", data, _SCHEMA)
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".toml")
    if values["id"] != stem:
        raise SpecError(f"{filename}: id", f"must match the file name {stem!r}, got {values['id']!r}")

    def bad(key: str, message: str) -> SpecError:
        return SpecError(f"{filename}: {key}", f"{message}, got {values[key]:g}")

    if values["kv_heads"] > values["attention_heads"]:
        raise bad("kv_heads", f"must not exceed attention_heads ({values['attention_heads']})")
    if values["attention_heads"] % values["kv_heads"]:
        raise bad("kv_heads", f"must divide attention_heads ({values['attention_heads']}): "
                              "each KV head serves a whole group of query heads")
    if values["params_active_B"] > values["params_total_B"]:
        raise bad("params_active_B", f"must not exceed params_total_B ({values['params_total_B']:g})")
    experts = values.get("experts", 1)
    if experts == 1:
        if values.get("experts_per_token", 1) != 1:
            raise bad("experts_per_token", "must be 1 for a dense model (experts = 1)")
        if values["params_active_B"] != values["params_total_B"]:
            raise bad("params_active_B", f"must equal params_total_B ({values['params_total_B']:g}) "
                                         "for a dense model; a mixture of experts also gives experts "
                                         "and experts_per_token")
    else:
        if "experts_per_token" not in values:
            raise SpecError(f"{filename}: experts_per_token", f"missing: a model with {experts} experts "
                                                              "must say how many each token uses")
        if values["experts_per_token"] >= experts:
            raise bad("experts_per_token", f"must be less than experts ({experts}); when every expert "
                                           "fires the model is dense: drop both fields")
    return Model(**values)


def parse(text: str, filename: str) -> Model:
    """Parse and validate one model file.

    Raises
    ------
    SpecError
        If the TOML is malformed, a field is missing, unknown or outside its
        plausible range, or fields contradict each other; the message names
        ``filename`` and the field.
    """
    return _check(parse_text(text, filename), filename)


def _load_entries(entries: list[tuple[str, object]]) -> dict[str, Model]:
    out = {}
    for label, entry in sorted(entries, key=lambda e: e[0]):
        model = _check(read(entry, label), label)
        out[model.id] = model
    return dict(sorted(out.items()))


def load_dir(path: str | Path) -> dict[str, Model]:
    """Read and validate every ``*.toml`` model file in a directory.

    Raises
    ------
    SpecError
        If any file is invalid; the message names the file and the field.
    """
    return _load_entries([(str(p), p) for p in Path(path).glob("*.toml") if p.is_file()])


@functools.cache
def load_all() -> dict[str, Model]:
    """Every catalog model, keyed by id (read once, on first call)."""
    return _load_entries([(f"levers/model_specs/{entry.name}", entry)
                          for entry in resources.files(_PACKAGE).iterdir()
                          if entry.name.endswith(".toml") and entry.is_file()])


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
