"""Scale-out and architecture terms checked against the models' published configurations."""

from __future__ import annotations

import pytest

from levers import models


def test_deepseek_v3_latent_attention_flops():
    # DeepSeek-V3 config.json (huggingface.co/deepseek-ai/DeepSeek-V3): 61 layers, 128 heads,
    # kv_lora_rank 512, qk_rope_head_dim 64. Absorbed latent attention per context token:
    # 2 x 61 x 128 x ((512 + 64) + 512) FLOPs.
    m = models.get("deepseek-v3")
    assert m.attention_flops_per_token(1) == pytest.approx(2 * 61 * 128 * (576 + 512))
    # 2.83x what 192-dim ordinary attention would count.
    assert m.attention_flops_per_token(1) / (4 * 61 * 128 * 192) == pytest.approx(2.83, abs=0.01)


@pytest.mark.parametrize("model_id", ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b"])
def test_ordinary_attention_flops_unchanged(model_id):
    m = models.get(model_id)
    assert m.attention_flops_per_token(1000) == 4 * m.layers * m.attention_heads * m.head_dim * 1000
