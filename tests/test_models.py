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
