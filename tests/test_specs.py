"""Tests for the accelerator data files and their loader (levers.specs)."""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import subprocess
import sys
from pathlib import Path

import pytest

from levers import specs
from levers.errors import InputError, SpecError

EXPECTED_IDS = [
    "a100",
    "b200",
    "gb200",
    "h100",
    "h200",
    "l40s",
    "mi300x",
    "mi325x",
    "mi355x",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
]
TABLES = ("compute", "memory", "power", "interconnect", "price")
REPO_ROOT = Path(__file__).resolve().parents[1]

# Published figures are quoted to 3-5 significant digits; 1e-6 relative is far
# tighter than any rounding in the sources, so a typo in a data file shows up.
REL = 1e-6


def _h100_text() -> str:
    return importlib.resources.files("hardware_specs").joinpath("h100.toml").read_text("utf-8")


def _write(tmp_path: Path, text: str, name: str = "h100.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _spec_error(tmp_path: Path, text: str, name: str = "h100.toml") -> str:
    path = _write(tmp_path, text, name)
    with pytest.raises(SpecError) as info:
        specs.load_dir(tmp_path)
    msg = str(info.value)
    assert str(path) in msg, msg
    return msg


# --- shipped data --------------------------------------------------------
def test_all_shipped_files_load_and_ids_are_complete():
    table = specs.load_all()
    assert list(table) == EXPECTED_IDS
    assert specs.ids() == EXPECTED_IDS
    for hw_id, acc in table.items():
        assert acc.id == hw_id
        assert isinstance(acc, specs.Accelerator)


def test_every_file_is_package_data():
    root = importlib.resources.files("hardware_specs")
    stems = sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))
    assert stems == EXPECTED_IDS


def test_every_table_has_source_and_as_of():
    for acc in specs.load_all().values():
        assert set(acc.sources) == set(TABLES), acc.id
        for table, src in acc.sources.items():
            assert isinstance(src, specs.Source)
            assert src.source.strip(), (acc.id, table)
            assert len(src.as_of) in (7, 10), (acc.id, table, src.as_of)


def test_shipped_numbers_are_positive_and_finite():
    for acc in specs.load_all().values():
        for name in (
            "bf16_dense_TFLOPS",
            "hbm_GB",
            "hbm_bandwidth_TBps",
            "tdp_W",
            "scale_up_GBps",
            "usd_per_hour",
        ):
            value = getattr(acc, name)
            assert isinstance(value, float) and math.isfinite(value) and value > 0, (acc.id, name)
        for fmt in specs.FORMATS:
            peak = acc.peak_TFLOPS(fmt)
            assert peak is None or (math.isfinite(peak) and peak > 0)


@pytest.mark.parametrize(
    ("hw_id", "field", "expected"),
    [
        # NVIDIA H100 datasheet (nvidia.com/en-us/data-center/h100): 1,979 TFLOPS
        # BF16 with sparsity -> 989.4 dense; 3.35 TB/s HBM3; 700 W SXM; NVLink 900 GB/s.
        ("h100", "bf16_dense_TFLOPS", 989.4),
        ("h100", "fp8_dense_TFLOPS", 1978.9),
        ("h100", "hbm_bandwidth_TBps", 3.35),
        ("h100", "tdp_W", 700),
        ("h100", "scale_up_GBps", 900),
        # NVIDIA A100 datasheet: 312 TFLOPS BF16 dense, 80 GB at 2,039 GB/s, 400 W.
        ("a100", "bf16_dense_TFLOPS", 312),
        ("a100", "hbm_bandwidth_TBps", 2.039),
        # NVIDIA Blackwell datasheet (HGX B200): 2.25 PF BF16 dense, 9 PF FP4 dense;
        # 180 GB as shipped (MLPerf v4.1 system description), 1000 W.
        ("b200", "bf16_dense_TFLOPS", 2250),
        ("b200", "fp4_dense_TFLOPS", 9000),
        ("b200", "hbm_GB", 180),
        ("b200", "tdp_W", 1000),
        # AMD MI300X product page: 1,307.4 TFLOPS BF16 dense, 192 GB, 5.3 TB/s.
        ("mi300x", "bf16_dense_TFLOPS", 1307.4),
        ("mi300x", "hbm_GB", 192),
        # MI355X: 2.5 PF BF16 dense (press coverage of AMD launch; lesson row), 288 GB.
        ("mi355x", "bf16_dense_TFLOPS", 2500),
        ("mi355x", "hbm_GB", 288),
        # Google Cloud TPU docs: v6e 918 TFLOPs bf16, 32 GB, 1638 GBps, ICI 800 GBps.
        ("tpu-v6e", "bf16_dense_TFLOPS", 918),
        ("tpu-v6e", "hbm_bandwidth_TBps", 1.638),
        ("tpu-v6e", "scale_up_GBps", 800),
        # Google Cloud TPU docs: v5e 197 TFLOPs bf16, 16 GB; v5p 459 TFLOPs, 2765 GBps.
        ("tpu-v5e", "bf16_dense_TFLOPS", 197),
        ("tpu-v5p", "hbm_bandwidth_TBps", 2.765),
    ],
)
def test_golden_figures(hw_id, field, expected):
    assert getattr(specs.get(hw_id), field) == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize(
    ("hw_id", "price"),
    [("h100", 2.50), ("b200", 6.00), ("mi355x", 5.50), ("tpu-v6e", 4.00)],
)
def test_lesson_prices(hw_id, price):
    # The lesson's hardware table: H100 $2.50, B200 $6.00, MI355X $5.50,
    # TPU v6 (Trillium) $4.00 per GPU/chip-hour.
    acc = specs.get(hw_id)
    assert acc.usd_per_hour == pytest.approx(price, abs=1e-9)
    assert "lesson" in acc.sources["price"].source.lower()


def test_tpus_have_documented_power_estimates_and_gpus_do_not():
    for acc in specs.load_all().values():
        if acc.id.startswith("tpu-"):
            assert acc.tdp_is_estimate, acc.id
            assert "estimate" in acc.sources["power"].source.lower(), acc.id
        else:
            assert not acc.tdp_is_estimate, acc.id


def test_format_support():
    a100, h100, b200 = specs.get("a100"), specs.get("h100"), specs.get("b200")
    assert not a100.supports("fp8") and a100.peak_TFLOPS("fp8") is None
    assert not h100.supports("fp4") and h100.supports("fp8")
    assert b200.supports("fp4") and b200.peak_TFLOPS("fp4") == pytest.approx(9000, rel=REL)
    assert specs.get("mi355x").supports("fp4")
    assert specs.get("gb200").supports("fp4")
    assert all(acc.supports("bf16") for acc in specs.load_all().values())
    with pytest.raises(InputError) as info:
        h100.peak_TFLOPS("fp16")
    assert "bf16, fp8, int8, fp4" in str(info.value)


def test_accelerator_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        specs.get("h100").tdp_W = 1.0  # type: ignore[misc]


def test_unknown_id_lists_allowed_ids():
    with pytest.raises(InputError) as info:
        specs.get("h800")
    err = info.value
    assert not isinstance(err, SpecError)
    assert err.field == "hardware"
    assert "unknown id 'h800'" in str(err)
    assert ", ".join(EXPECTED_IDS) in str(err)


# --- laziness ------------------------------------------------------------
def test_import_reads_no_file():
    code = (
        "import sys\n"
        "import levers.specs as s\n"
        "assert s.load_all.cache_info().currsize == 0, s.load_all.cache_info()\n"
        "assert 'hardware_specs' not in sys.modules, 'data package imported at import time'\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_load_all_is_cached():
    specs.load_all.cache_clear()
    assert specs.load_all.cache_info().currsize == 0
    first = specs.load_all()
    specs.ids()
    specs.get("h100")
    info = specs.load_all.cache_info()
    assert info.misses == 1 and info.currsize == 1
    assert specs.load_all() is first


# --- malformed files -----------------------------------------------------
def test_valid_copy_loads_from_dir(tmp_path):
    _write(tmp_path, _h100_text())
    (tmp_path / "README.txt").write_text("not toml", encoding="utf-8")
    table = specs.load_dir(tmp_path)
    assert list(table) == ["h100"]
    assert table["h100"] == specs.get("h100")


def test_missing_field(tmp_path):
    text = _h100_text().replace("hbm_GB = 80\n", "")
    msg = _spec_error(tmp_path, text)
    assert "memory.hbm_GB" in msg and "missing" in msg


def test_missing_table(tmp_path):
    head, _, _ = _h100_text().partition("[price]")
    msg = _spec_error(tmp_path, head)
    assert ": price: missing required table" in msg


def test_missing_source(tmp_path):
    text = _h100_text()
    start = text.index("[interconnect]")
    section = text[start:]
    src_line = next(line for line in section.splitlines() if line.startswith("source ="))
    text = text[:start] + section.replace(src_line + "\n", "", 1)
    msg = _spec_error(tmp_path, text)
    assert "interconnect.source" in msg and "missing" in msg


def test_missing_as_of(tmp_path):
    text = _h100_text()
    cut = text.index("[price]")
    text = text[:cut] + text[cut:].replace('as_of = "2026-11-24"\n', "")
    msg = _spec_error(tmp_path, text)
    assert "price.as_of" in msg


def test_bad_as_of(tmp_path):
    text = _h100_text().replace('as_of = "2026-11-24"', 'as_of = "2026-13"', 1)
    msg = _spec_error(tmp_path, text)
    assert "compute.as_of" in msg and "'2026-13'" in msg


def test_negative_number(tmp_path):
    text = _h100_text().replace("hbm_GB = 80", "hbm_GB = -80")
    msg = _spec_error(tmp_path, text)
    assert msg == f"{tmp_path / 'h100.toml'}: memory.hbm_GB: must be a number from 1 to 10,000 [GB], got -80"


def test_zero_number(tmp_path):
    text = _h100_text().replace("tdp_W = 700", "tdp_W = 0")
    msg = _spec_error(tmp_path, text)
    assert "power.tdp_W" in msg and "got 0" in msg


def test_unknown_key_in_table(tmp_path):
    text = _h100_text().replace("hbm_GB = 80", "hbm_GB = 80\nhbm_GiB = 74.5")
    msg = _spec_error(tmp_path, text)
    assert "memory.hbm_GiB" in msg and "unknown key" in msg


def test_unknown_top_level_key(tmp_path):
    text = "family = 'Hopper'\n" + _h100_text()
    msg = _spec_error(tmp_path, text)
    assert ": family: unknown key" in msg


def test_bool_is_not_a_number(tmp_path):
    text = _h100_text().replace("scale_up_GBps = 900", "scale_up_GBps = true")
    msg = _spec_error(tmp_path, text)
    assert "interconnect.scale_up_GBps" in msg and "got true" in msg


def test_string_is_not_a_number(tmp_path):
    text = _h100_text().replace("usd_per_hour = 2.50", 'usd_per_hour = "2.50"')
    msg = _spec_error(tmp_path, text)
    assert "price.usd_per_hour" in msg


def test_estimate_must_be_bool(tmp_path):
    text = _h100_text().replace("tdp_W = 700", "tdp_W = 700\nestimate = 1")
    msg = _spec_error(tmp_path, text)
    assert "power.estimate" in msg and "true or false" in msg


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_and_inf(tmp_path, bad):
    text = _h100_text().replace("bf16_dense_TFLOPS = 989.4", f"bf16_dense_TFLOPS = {bad}")
    msg = _spec_error(tmp_path, text)
    assert "compute.bf16_dense_TFLOPS" in msg and f"got {bad}" in msg


def test_table_given_as_scalar(tmp_path):
    head, _, _ = _h100_text().partition("[price]")
    text = "price = 2.5\n" + head
    msg = _spec_error(tmp_path, text)
    assert ": price: must be a table" in msg


def test_bad_toml(tmp_path):
    text = _h100_text().replace("hbm_GB = 80", "hbm_GB = = 80")
    msg = _spec_error(tmp_path, text)
    assert "invalid TOML" in msg


def test_id_mismatch(tmp_path):
    msg = _spec_error(tmp_path, _h100_text(), name="h200.toml")
    assert ": id:" in msg and "'h200'" in msg and "'h100'" in msg


def test_not_utf8(tmp_path):
    path = tmp_path / "h100.toml"
    path.write_bytes(b'id = "h100"\nname = "\xff"\n')
    with pytest.raises(SpecError) as info:
        specs.load_dir(tmp_path)
    assert str(path) in str(info.value)


def test_parse_names_the_given_filename():
    text = _h100_text().replace("hbm_GB = 80", "hbm_GB = -80")
    with pytest.raises(SpecError) as info:
        specs.parse(text, "hardware_specs/h100.toml")
    assert str(info.value) == (
        "hardware_specs/h100.toml: memory.hbm_GB: must be a number from 1 to 10,000 [GB], got -80"
    )
    assert info.value.field == "hardware_specs/h100.toml: memory.hbm_GB"


# --- plausible ranges (every numeric field has bounds) --------------------
@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("hbm_bandwidth_TBps = 3.35", "hbm_bandwidth_TBps = 1e-300", "memory.hbm_bandwidth_TBps"),
        ("hbm_GB = 80", "hbm_GB = 1e308", "memory.hbm_GB"),
        ("usd_per_hour = 2.50", "usd_per_hour = 5e-324", "price.usd_per_hour"),
        ("bf16_dense_TFLOPS = 989.4", "bf16_dense_TFLOPS = 989.4e6", "compute.bf16_dense_TFLOPS"),
        ("fp8_dense_TFLOPS = 1978.9", "fp8_dense_TFLOPS = 0.001", "compute.fp8_dense_TFLOPS"),
        ("tdp_W = 700", "tdp_W = 7e9", "power.tdp_W"),
        ("scale_up_GBps = 900", "scale_up_GBps = 1e-9", "interconnect.scale_up_GBps"),
    ],
)
def test_implausible_numbers_name_file_field_and_range(tmp_path, old, new, field):
    text = _h100_text()
    assert old in text
    msg = _spec_error(tmp_path, text.replace(old, new))
    assert f"h100.toml: {field}: must be a number from " in msg, msg
    assert "[" in msg  # the unit


def test_every_numeric_field_has_a_plausible_range_holding_the_shipped_data():
    from levers.datafile import Field

    for table, schema in specs._TABLES.items():
        for key, spec in schema.items():
            assert isinstance(spec, Field)
            if spec.kind == "number":
                assert spec.lo is not None and spec.lo > 0 and spec.hi is not None and spec.unit, (table, key)
    for acc in specs.load_all().values():  # loading checked every range; spot the margins
        assert 1 <= acc.hbm_GB <= 10_000 and 0.05 <= acc.hbm_bandwidth_TBps <= 200
