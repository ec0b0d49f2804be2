"""Model data: every file loads, figures match their sources, bad files fail clearly."""

from __future__ import annotations

import pytest

from levers import InputError, SpecError, models

REQUIRED = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-2-70b", "qwen2.5-7b",
            "mixtral-8x7b", "deepseek-v3"]


def test_catalog_has_the_required_models_with_sources():
    catalog = models.load_all()
    for model_id in REQUIRED:
        m = catalog[model_id]
        assert m.source.startswith("https://") and m.as_of


def test_kv_bytes_per_token_from_the_configs():
    # Hugging Face config.json of each model: layers × 2 × kv_heads × head_dim × 2 B.
    assert models.get("llama-3.1-70b").kv_bytes_per_token(2) == 80 * 2 * 8 * 128 * 2
    assert models.get("llama-3.1-8b").kv_bytes_per_token(2) == 32 * 2 * 8 * 128 * 2
    # DeepSeek-V3 config: kv_lora_rank 512 + qk_rope_head_dim 64 per layer, 61 layers.
    assert models.get("deepseek-v3").kv_bytes_per_token(1) == 61 * 576


def test_moe_reads_fewer_weights_at_small_batch():
    # Mixtral paper (arXiv:2401.04088): 46.7B total, 12.9B active per token.
    m = models.get("mixtral-8x7b")
    one = m.weight_bytes_read(1, 1.0)
    assert one == pytest.approx(12.9e9, rel=1e-9)
    assert m.weight_bytes_read(256, 1.0) == pytest.approx(46.7e9, rel=1e-6)
    assert models.get("llama-3.1-70b").weight_bytes_read(1, 2.0) == 70.55e9 * 2


@pytest.mark.parametrize(("params_B", "ref"), [(8.03, "llama-3.1-8b"), (70.55, "llama-3.1-70b"),
                                               (405.85, "llama-3.1-405b")])
def test_custom_model_shape_is_close_to_llama(params_B, ref):
    derived, real = models.custom(params_B), models.get(ref)
    assert derived.derived and derived.params_total_B == params_B
    ratio = derived.kv_bytes_per_token(2) / real.kv_bytes_per_token(2)
    assert 0.8 <= ratio <= 1.25


def test_unknown_and_custom_ids():
    with pytest.raises(InputError, match=r"allowed: .*llama-3\.1-70b"):
        models.get("gpt-9")
    assert models.get("custom", 13).params_total_B == 13


@pytest.mark.parametrize(("text", "field"), [
    ('id = "x"', "name"),
    ('id = "x"\nname = "X"\nlayers = -1', "layers"),
    ('id = "x"\nname = "X"\nlayers = true', "layers"),
    ('id = "x"\nwat = 1', "wat"),
    ("id = ", "x.toml"),
])
def test_bad_model_files_name_the_file_and_field(text, field):
    with pytest.raises(SpecError) as exc:
        models.parse(text, "levers/model_specs/x.toml")
    assert "x.toml" in str(exc.value) and field in str(exc.value)


def test_id_must_match_file_name():
    good = (models.load_all()["llama-3.1-8b"])
    text = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in vars(good).items()
                     if k not in ("derived", "experts", "experts_per_token",
                                  "kv_elements_per_token_per_layer", "attention_qk_dim", "attention_v_dim"))
    models.parse(text, "llama-3.1-8b.toml")
    with pytest.raises(SpecError, match="id"):
        models.parse(text, "other.toml")


def _model_text(model_id: str = "mixtral-8x7b") -> str:
    from importlib import resources

    return resources.files("levers.model_specs").joinpath(f"{model_id}.toml").read_text("utf-8")


@pytest.mark.parametrize(("old", "new", "field", "says"), [
    # Mixtral's config: 8 local experts, 2 per token. All 8 firing divided by zero.
    ("experts_per_token = 2", "experts_per_token = 8", "experts_per_token", "less than experts"),
    ("experts_per_token = 2", "experts_per_token = 9", "experts_per_token", "less than experts"),
    ("kv_heads = 8", "kv_heads = 64", "kv_heads", "must not exceed attention_heads"),
    ("kv_heads = 8", "kv_heads = 5", "kv_heads", "must divide attention_heads"),
    ("layers = 32", "layers = 1e6", "layers", "from 1 to 1,000"),
    ("head_dim = 128", "head_dim = 0", "head_dim", "from 8 to 1,024"),
    ("params_total_B = 46.7", "params_total_B = 1e308", "params_total_B", "from 0.01 to 100,000"),
    ("params_active_B = 12.9", "params_active_B = 50", "params_active_B", "must not exceed params_total_B"),
    ("context_window_tokens = 32768", "context_window_tokens = 3", "context_window_tokens", "from 256"),
    ("context_window_tokens = 32768\n", "", "context_window_tokens", "missing required field"),
    ("experts_per_token = 2\n", "", "experts_per_token", "must say how many"),
    ('as_of = "2023-12-11"', 'as_of = "last year"', "as_of", "ISO date"),
])
def test_implausible_model_fields_name_file_and_field(tmp_path, old, new, field, says):
    text = _model_text()
    assert old in text
    path = tmp_path / "mixtral-8x7b.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        models.load_dir(tmp_path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: {field}: "), msg
    assert says in msg, msg


def test_dense_model_cannot_claim_fewer_active_parameters(tmp_path):
    text = _model_text("llama-3.1-8b").replace("params_active_B = 8.03", "params_active_B = 4")
    with pytest.raises(SpecError, match=r"llama-3\.1-8b\.toml: params_active_B: must equal params_total_B"):
        models.parse(text, "levers/model_specs/llama-3.1-8b.toml")


def test_non_utf8_model_file_names_the_file(tmp_path):
    path = tmp_path / "mixtral-8x7b.toml"
    path.write_bytes(_model_text().replace("Mixtral 8x7B", "Mixtral \xe9").encode("latin-1"))
    with pytest.raises(SpecError) as exc:
        models.load_dir(tmp_path)
    assert str(exc.value).startswith(f"{path}: not valid UTF-8 text"), exc.value


def test_models_and_hardware_share_one_validator():
    from levers import datafile, specs

    fields = [*models._SCHEMA.values(), *(f for t in specs._TABLES.values() for f in t.values())]
    assert all(isinstance(f, datafile.Field) for f in fields)
    numeric = [(k, f) for k, f in models._SCHEMA.items() if f.kind in ("int", "number")]
    assert numeric and all(f.lo is not None and f.hi is not None for _, f in numeric)


@pytest.mark.parametrize(("model_id", "context"), [
    # max_position_embeddings in each model's Hugging Face config.json (the file's source).
    ("llama-3.1-70b", 131_072), ("llama-2-70b", 4096), ("mixtral-8x7b", 32_768),
    ("deepseek-v3", 163_840), ("qwen2.5-7b", 131_072),
])
def test_context_windows_from_the_configs(model_id, context):
    assert models.get(model_id).context_window_tokens == context
