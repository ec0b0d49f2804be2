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


def test_tensor_parallel_beyond_the_nvlink_node_pays_the_scale_out_network():
    # DGX H100 (hardware_specs/h100.toml): 8 GPUs on NVSwitch at 900 GB/s, one 400 Gb/s ConnectX-7 per GPU
    # (100 GB/s bidirectional). A 16-GPU group all-reduces inside each node, then each GPU's 1/8 share
    # across the 2 nodes: 2 x layers x (2 x latency + data x (2 x 7/8 / 450e9 + 1/8 x 2 x 1/2 / 50e9)).
    from levers import perf, specs

    m, hw = models.get("llama-3.1-405b"), specs.get("h100")
    tokens = 256
    data = tokens * m.hidden_size * 2
    lat = perf.ALLREDUCE_LATENCY_S
    want = 2 * m.layers * (2 * lat + data * 2 * 7 / 8 / 450e9 + data / 8 * 2 * 0.5 / 50e9)
    assert perf.t_comm(m, hw, 16, tokens) == pytest.approx(want)
    # Inside one node the ring stays on NVLink.
    assert perf.t_comm(m, hw, 8, tokens) == pytest.approx(2 * m.layers * (lat + data * 2 * 7 / 8 / 450e9))
    # Crossing nodes costs more per token than a ring of the same size on NVLink would.
    flat = 2 * m.layers * (lat + data * 2 * 15 / 16 / 450e9)
    assert perf.t_comm(m, hw, 16, tokens) > flat


def test_accelerators_without_scale_out_figures_keep_one_domain():
    from levers import perf, specs

    m, hw = models.get("llama-3.1-405b"), specs.get("mi300x")
    assert hw.scale_out_GBps is None
    data = 64 * m.hidden_size * 2
    assert perf.t_comm(m, hw, 16, 64) == pytest.approx(
        2 * m.layers * (perf.ALLREDUCE_LATENCY_S + data * 2 * 15 / 16 / (hw.scale_up_GBps * 1e9 / 2)))
