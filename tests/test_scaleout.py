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


# --- expert parallelism, pipelines and the layout search ---------------------------------------
# Figures used below, each from its file:
#   DeepSeek-V3 (levers/model_specs/deepseek-v3.toml, its config.json): 61 layers, hidden 7168,
#   256 routed experts, 8 per token, 671B total, 37B active.
#   Llama 3.1 405B (levers/model_specs/llama-3.1-405b.toml): 126 layers, hidden 16384.
#   H100 SXM (hardware_specs/h100.toml): 80 GB, NVLink 900 GB/s bidirectional in an 8-GPU
#   domain, one 400 Gb/s ConnectX-7 per GPU (scale_out_GBps 100, bidirectional).
import json  # noqa: E402

from levers import perf, sizing, specs  # noqa: E402
from levers.cli import main  # noqa: E402
from levers.errors import InputError  # noqa: E402
from levers.fleet import Config, best_fleet  # noqa: E402
from levers.perf import Layout  # noqa: E402

LAT = perf.ALLREDUCE_LATENCY_S
NVLINK_ONE_WAY = 900e9 / 2
NIC_ONE_WAY = 100e9 / 2


def test_expert_all_to_all_inside_one_node_by_hand():
    m, hw = models.get("deepseek-v3"), specs.get("h100")
    tokens = 256
    # each of 8 GPUs dispatches its 256/8 tokens to 8 experts each: 32 x 8 x 7168 x 2 B, 7/8 of it leaves
    sent = 32 * 8 * 7168 * 2
    want = 2 * 61 * (LAT + sent * 7 / 8 / NVLINK_ONE_WAY)
    assert perf.t_alltoall(m, hw, 8, tokens) == pytest.approx(want)
    assert want == pytest.approx(2 * 61 * (10e-6 + 7.1365e-6), rel=1e-4)  # 2.09 ms per pass
    assert perf.t_alltoall(m, hw, 1, tokens) == 0.0


def test_expert_all_to_all_across_nodes_is_bound_by_the_network():
    m, hw = models.get("deepseek-v3"), specs.get("h100")
    tokens = 1024
    # EP32 on 4 nodes: a GPU sends 1024/32 x 8 x 7168 x 2 B; 7/32 of it over NVLink, 24/32 over its NIC
    sent = 32 * 8 * 7168 * 2
    nvlink, nic = sent * 7 / 32 / NVLINK_ONE_WAY, sent * 24 / 32 / NIC_ONE_WAY
    assert nic > nvlink
    assert perf.t_alltoall(m, hw, 32, tokens) == pytest.approx(2 * 61 * (2 * LAT + nic))
    # per token, crossing nodes costs more than staying in one
    assert perf.t_alltoall(m, hw, 32, tokens) - perf.t_alltoall(m, hw, 32, 0) > (
        perf.t_alltoall(m, hw, 8, tokens) - perf.t_alltoall(m, hw, 8, 0))


def test_pipeline_hand_off_by_hand():
    m, hw = models.get("llama-3.1-405b"), specs.get("h100")
    tokens = 64
    # TP8 x PP2 spans two nodes: one hand-off of 64 x 16384 x 2 B, split over the 8 GPUs' NICs,
    # and two hops' latency (the second returns the sampled tokens)
    lay = Layout(8, 2)
    want = 2 * LAT + 1 * tokens * 16384 * 2 / 8 / NIC_ONE_WAY
    assert perf.t_handoff(m, hw, lay, tokens) == pytest.approx(want)
    assert perf.t_handoff(m, hw, Layout(8, 1), tokens) == 0.0
    # four stages: three hand-offs, four latencies
    assert perf.t_handoff(m, hw, Layout(8, 4), tokens) == pytest.approx(
        4 * LAT + 3 * tokens * 16384 * 2 / 8 / NIC_ONE_WAY)
    # the pass's communication: each stage's TP8 all-reduces over its layers sum to the model's
    ar, a2a, ho = perf.parallel_comm(m, hw, lay, tokens)
    assert ar == pytest.approx(perf.t_comm(m, hw, 8, tokens)) and a2a == 0.0 and ho == pytest.approx(want)


def test_weights_per_gpu_by_hand():
    m, hw = models.get("deepseek-v3"), specs.get("h100")
    # experts E = (671 - 37) / (1 - 8/256) = 654.45B; shared 16.55B
    e = (671 - 37) / (1 - 8 / 256)
    assert m.expert_params_B == pytest.approx(e)
    assert e == pytest.approx(654.45, abs=0.01)
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 0, 2.0)
    work = perf.Workload(1000, 0, 200)
    # TP2 x EP16 at FP8: 8 attention groups; per GPU 16.55 / 2 + 654.45 / 16 = 49.18 GB
    sh = perf.Shape(m, hw, 2, "fp8", "fp8", work, eng, ep=16)
    assert sh.tp == 16 and sh.layout.dp == 8
    r = sh.at(1, "memory")
    assert r.weight_GB_per_gpu == pytest.approx((671 - e) / 2 + e / 16)
    assert r.weight_GB_per_gpu == pytest.approx(49.18, abs=0.01)
    assert r.parallel == "TP2 × EP16 (attention DP8)"
    # TP8 x PP2 of a dense model: 810 GB of BF16 405B weights over 16 GPUs
    d = perf.Shape(models.get("llama-3.1-405b"), hw, 8, "bf16", "bf16", work, eng, pp=2).at(1, "memory")
    assert d.weight_GB_per_gpu == pytest.approx(405.85 * 2 / 16, rel=1e-3)
    assert (d.tensor, d.pipeline, d.expert, d.tp) == (8, 2, 1, 16)


def test_latent_attention_kv_is_copied_on_every_tensor_parallel_gpu():
    # DeepSeek-V3 caches one 576-element latent per token per layer that every head reads: a TP group
    # keeps it whole on each GPU; Llama 3.1 405B's 8 KV heads split up to TP8, then repeat.
    hw = specs.get("h100")
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 0, 2.0)
    work = perf.Workload(1000, 0, 200)
    ds = models.get("deepseek-v3")
    assert perf.Shape(ds, hw, 8, "fp8", "fp8", work, eng).kv_eff == pytest.approx(8 * 61 * 576)
    assert perf.Shape(ds, hw, 1, "fp8", "fp8", work, eng, ep=16).kv_eff == pytest.approx(61 * 576)
    ll = models.get("llama-3.1-405b")
    kv = ll.kv_bytes_per_token(2)
    assert perf.Shape(ll, hw, 8, "bf16", "bf16", work, eng).kv_eff == pytest.approx(kv)
    assert perf.Shape(ll, hw, 16, "bf16", "bf16", work, eng).kv_eff == pytest.approx(2 * kv)


LAYOUT_CASES = [("deepseek-v3", "h100", "fp8"), ("deepseek-v3", "b200", "fp4"), ("mixtral-8x7b", "h100", "bf16"),
                ("llama-3.1-405b", "h100", "bf16"), ("llama-3.1-70b", "mi300x", "fp8")]


@pytest.mark.parametrize(("model_id", "hw_id", "weights"), LAYOUT_CASES)
def test_no_layout_holds_less_than_the_models_share(model_id, hw_id, weights):
    m, hw = models.get(model_id), specs.get(hw_id)
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 0, 2.0)
    work = perf.Workload(1000, 0, 200)
    lays = sizing.layouts(m, hw, weights, eng)
    assert [lay.gpus for lay in lays] == sorted(lay.gpus for lay in lays)
    share = m.params_total_B * perf.BYTES_PER_PARAM[weights]
    for lay in lays:
        r = perf.Shape(m, hw, lay.tp, weights, "fp8", work, eng, pp=lay.pp, ep=lay.ep).at(1, "memory")
        # every GPU holds at least its even share of the model; copies of the shared part add to it
        assert r.weight_GB_per_gpu * r.tp >= share * (1 - 1e-12)
        assert r.weight_GB_per_gpu * r.tp == pytest.approx(share) or lay.dp > 1
        # the weights fit the layout's memory (the search only offers such layouts)
        assert r.weight_GB_per_gpu < hw.hbm_GB * 0.9
        assert r.t_comm_s == pytest.approx(r.t_allreduce_s + r.t_alltoall_s + r.t_handoff_s)
        if lay.ep > 1:
            assert m.experts % lay.ep == 0 and lay.ep % lay.tp == 0
        if lay.pp > 1:
            assert lay.tp == hw.scale_up_domain_GPUs  # a node per stage


def test_pipeline_bubble_below_pp_sequences():
    # With fewer sequences than stages a step still takes pp stage-times: TPOT stays, throughput falls
    # in proportion to the batch; from pp sequences on, each micro-batch reads the weights once.
    m, hw = models.get("llama-3.1-405b"), specs.get("h100")
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 0, 2.0)
    sh = perf.Shape(m, hw, 8, "fp8", "fp8", perf.Workload(1000, 0, 500), eng, pp=4)
    steps = [sh.parts(b) for b in (1, 2, 4)]
    assert steps[0] == pytest.approx(steps[1]) and steps[1] == pytest.approx(steps[2])
    one, four = sh.at(1, "memory"), sh.at(4, "memory")
    assert one.slots == 4 and four.slots == 4
    assert four.output_tokens_per_s == pytest.approx(4 * one.output_tokens_per_s, rel=1e-9)
    assert four.weights_read_GB == pytest.approx(4 * m.params_total_B)  # FP8: 1 B/param, read 4 times
    # per GPU, the same 32 GPUs as one TP32 group read the weights once per step
    tp32 = perf.Shape(m, hw, 32, "fp8", "fp8", perf.Workload(1000, 0, 500), eng).at(4, "memory")
    assert tp32.weights_read_GB == pytest.approx(m.params_total_B)


def _brute_force(m, hw, cfg, work, eng, lam, tg):
    """Fewest GPUs over every layout, each sized on its own (no pruning)."""
    best = None
    for lay in sizing.layouts(m, hw, cfg.weights, eng):
        sh = perf.Shape(m, hw, lay.tp, cfg.weights, cfg.kv_cache, work, eng, pp=lay.pp, ep=lay.ep)
        if not sh.fits:
            continue
        got = sizing.size_shape(sh, lam, tg)
        if got and (best is None or lay.gpus * got[2] < best[0]):
            best = (lay.gpus * got[2], lay)
    return best


SEARCH_CASES = [("deepseek-v3", "h100", "fp8", lam) for lam in (0.5, 5.0, 40.0)] + [
    ("deepseek-v3", "h100", "bf16", 5.0), ("llama-3.1-405b", "h100", "bf16", 5.0),
    ("mixtral-8x7b", "h200", "fp8", 20.0), ("deepseek-v3", "b200", "fp4", 20.0)]


@pytest.mark.parametrize(("model_id", "hw_id", "weights", "lam"), SEARCH_CASES)
def test_search_prunes_to_the_cheapest_layout(model_id, hw_id, weights, lam):
    from levers.sizing import Targets

    m, hw = models.get(model_id), specs.get(hw_id)
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 256, 2.0)
    cfg = Config(0.0, "continuous", 0.0, "split", weights, "fp8", hw_id, 2.0, False)
    work = perf.Workload(2000, 0, 500)
    tg = Targets(2.0, 0.05, True, 1, 0.8)
    fleet = best_fleet("big", m, hw, cfg, work, eng, lam, 1.0, tg)
    brute = _brute_force(m, hw, cfg, work, eng, lam, tg)
    assert fleet.meets_slo and brute is not None
    assert fleet.gpus == brute[0]


def test_deepseek_v3_fp8_on_h100_goes_multi_node_with_experts_or_a_pipeline():
    # 671 GB of FP8 weights exceed one 8 x 80 GB node at 0.9 utilization (576 GB): every layout the
    # search offers spans more than one node, and under load the cheapest spreads the experts.
    from levers.sizing import Targets

    m, hw = models.get("deepseek-v3"), specs.get("h100")
    assert m.params_total_B * 1.0 > 8 * hw.hbm_GB * 0.9
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 256, 2.0)
    assert min(lay.gpus for lay in sizing.layouts(m, hw, "fp8", eng)) == 16
    cfg = Config(0.0, "continuous", 0.0, "split", "fp8", "fp8", "h100", 2.0, False)
    tg = Targets(2.0, 0.05, True, 1, 0.8)
    fleet = best_fleet("big", m, hw, cfg, perf.Workload(2000, 0, 500), eng, 40.0, 1.0, tg)
    p = fleet.perf
    assert p.tp > hw.scale_up_domain_GPUs and (p.expert > 1 or p.pipeline > 1)
    # cheaper than the best tensor-parallel-only fleet
    tp_only = []
    for tp in (16, 32, 64):
        got = sizing.size_shape(perf.Shape(m, hw, tp, "fp8", "fp8", perf.Workload(2000, 0, 500), eng), 40.0, tg)
        if got:
            tp_only.append(tp * got[2])
    assert fleet.gpus < min(tp_only)


def test_moe_waterfall_reports_its_layout():
    import levers

    w = levers.waterfall(levers.load_preset("moe-chat"))
    for st in w.steps:
        for f in st.details["fleets"]:
            assert f["parallel"].startswith("TP") and f["tp"] >= f["tensor"]
            assert f["t_comm_ms"] == pytest.approx(f["t_allreduce_ms"] + f["t_alltoall_ms"] + f["t_handoff_ms"])
    assert any(f.perf.expert > 1 for st in w.steps for f in st.outcome.fleets)


def test_formulas_show_the_communication_terms():
    import levers
    from levers import derivation

    s = levers.load_preset("moe-chat")
    for st in levers.waterfall(s).steps:
        f = st.outcome.fleet("big")
        lines = {line.what: line for line in derivation.fleet_lines(st, s, "big")}
        assert f.perf.parallel in lines["layout"].numbers
        if f.perf.expert > 1:
            line = lines["expert-parallel dispatch + combine per step"]
            assert f"/ {f.perf.expert} × 8 × 7,168 × 2 B" in line.numbers
            if f.perf.spec_tokens_per_step == 1:  # per step (with speculation: per output token)
                from levers import efficiency

                hw = specs.get(st.hardware)
                lat = efficiency.for_hardware(hw.id).allreduce_us * 1e-6 if f.perf.decode_flops else LAT
                tokens = f.perf.slots / f.perf.pipeline
                assert f.perf.t_alltoall_s == pytest.approx(
                    perf.t_alltoall(models.get("deepseek-v3"), hw, f.perf.expert, tokens, lat))
                assert f"{tokens:,.4g} / {f.perf.expert}" in line.numbers
        if f.perf.pipeline > 1:
            assert "pipeline hand-offs per step" in lines


def test_mixtral_mlperf_h200_lies_between_the_expert_parallel_bounds():
    # MLPerf Inference v5.1 Mixtral 8x7B Offline on 8 x H200, 62,108 tokens/s (levers/measurements/
    # mlperf_inference.toml, v5.1-mixtral-h200). Its prompts run 64 to 2,048 tokens: modeled with the
    # experts spread (best of the EP layouts of 1-8 GPUs, scaled to 8), the two ends bracket it.
    from levers import validate

    point = next(p for p in validate.load() if p.id == "v5.1-mixtral-h200")
    m, hw = models.get("mixtral-8x7b"), specs.get("h200")
    eng = perf.Engine("continuous", 0.0, 0.0, validate.MEMORY_UTILIZATION, 0, 1.0)
    ends = []
    for isl in point.input_bounds:
        work = perf.Workload(isl, 0, point.output_tokens)
        best = 0.0
        for tp, ep in ((1, 2), (2, 2), (1, 4), (2, 4), (4, 4), (1, 8), (2, 8), (4, 8), (8, 8)):
            r = perf.replica(m, hw, tp, point.weights, point.kv_cache, work, eng, ep=ep)
            if r is not None:
                best = max(best, r.output_tokens_per_s / r.tp * point.gpus)
        ends.append(best)
    assert min(ends) < point.value < max(ends)


def _cli(capsys, *flags):
    code = main(["throughput", "--hardware", "h100", "--weights", "fp8", "--kv-cache", "fp8", *flags,
                 "--format", "json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_cli_reports_the_layout(capsys):
    code, r = _cli(capsys, "--model", "deepseek-v3", "--gpus", "16", "--expert-parallel", "on",
                   "--attention-dp", "4")
    assert code == 0
    assert (r["parallel"], r["tensor_parallel"], r["expert_parallel"], r["attention_dp"]) == (
        "TP4 × EP16 (attention DP4)", 4, 16, 4)
    assert r["alltoall_ms_per_step"] > 0 and r["handoff_ms_per_step"] == 0
    code, r = _cli(capsys, "--model", "llama-3.1-405b", "--gpus", "16", "--pp", "2")
    assert code == 0 and r["parallel"] == "TP8 × PP2" and r["handoff_ms_per_step"] > 0
    code, best = _cli(capsys, "--model", "deepseek-v3", "--gpus", "16", "--best-layout", "on")
    assert code == 0
    for flags in (("--pp", "2"), ("--expert-parallel", "on"), ("--expert-parallel", "on", "--attention-dp", "16")):
        code, other = _cli(capsys, "--model", "deepseek-v3", "--gpus", "16", *flags)
        assert code == 0 and other["output_tokens_per_s"] <= best["output_tokens_per_s"] * (1 + 1e-9)


@pytest.mark.parametrize(("flags", "field"), [
    (("--model", "llama-3.1-70b", "--gpus", "8", "--expert-parallel", "on"), "expert-parallel"),
    (("--model", "llama-3.1-70b", "--gpus", "8", "--pp", "3"), "pp"),
    (("--model", "deepseek-v3", "--gpus", "16", "--attention-dp", "4"), "attention-dp"),
    (("--model", "deepseek-v3", "--gpus", "16", "--expert-parallel", "on", "--attention-dp", "3"), "attention-dp"),
    (("--model", "mixtral-8x7b", "--gpus", "16", "--expert-parallel", "on"), "expert-parallel"),
])
def test_cli_refuses_layouts_that_do_not_divide(capsys, flags, field):
    code, err = _cli(capsys, *flags)
    assert code == 2 and field in err and "Traceback" not in err


def test_layout_arguments_checked_in_the_api():
    m, hw = models.get("llama-3.1-70b"), specs.get("h100")
    with pytest.raises(InputError) as exc:
        perf.throughput(m, hw, 8, "fp8", "fp8", 1000, 100, mfu=0.0, mbu=0.0, memory_utilization=0.9, pp=3)
    assert exc.value.field == "pp"


def test_python_api_takes_the_layout():
    import levers

    r = levers.throughput("llama-3.1-405b", "h100", 16, weights="bf16", kv_cache="bf16", pp=2)
    assert (r["tensor_parallel"], r["pipeline_parallel"], r["gpus"]) == (8, 2, 16)
    # 810 GB of BF16 weights over 16 GPUs
    assert r["weight_GB_per_gpu"] == pytest.approx(405.85 * 2 / 16, rel=1e-3)


def test_one_prompt_waits_for_every_stage_and_its_own_attention_group():
    # Llama 3.1 405B FP8 on TP8 x PP2: the prompt's 1,000 tokens pass the two stages in turn, each on
    # 8 GPUs, so its latency is twice what the 16 GPUs together take: the extra is one pass's compute.
    m, hw = models.get("llama-3.1-405b"), specs.get("h100")
    eng = perf.Engine("continuous", 0.0, 0.0, 0.9, 0, 2.0)
    work = perf.Workload(1000, 0, 200)
    r = perf.Shape(m, hw, 8, "fp8", "fp8", work, eng, pp=2).at(8, "memory")
    flops = 1000 * 2 * m.params_active_B * 1e9 + m.attention_flops_per_token(500) * 1000
    per_gpu = hw.peak_TFLOPS("fp8") * 1e12 * r.mfu
    assert r.ttft_layout_s == pytest.approx(flops / (16 * per_gpu))
    assert r.ttft_s == pytest.approx(r.prefill_s + r.tpot_s + r.ttft_layout_s)
    # DeepSeek-V3 on TP1 x EP16: the shared part's FLOPs on one GPU, the experts' on 16
    ds = models.get("deepseek-v3")
    d = perf.Shape(ds, hw, 1, "fp8", "fp8", work, eng, ep=16).at(8, "memory")
    f_all = 1000 * 2 * ds.params_active_B * 1e9 + ds.attention_flops_per_token(500) * 1000
    f_exp = 1000 * 2 * 8 / 256 * ds.expert_params_B * 1e9
    per_gpu = hw.peak_TFLOPS("fp8") * 1e12 * d.mfu
    assert d.ttft_layout_s == pytest.approx((f_all - f_exp) / per_gpu + f_exp / (16 * per_gpu) - f_all / (16 * per_gpu))
    # tensor parallelism alone adds nothing
    assert perf.Shape(m, hw, 16, "fp8", "fp8", work, eng).at(8, "memory").ttft_layout_s == 0.0
