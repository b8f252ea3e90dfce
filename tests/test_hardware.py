"""CPU features from /proc/cpuinfo, and what --precision=auto becomes on them."""

import json

import pytest
import tensorflow as tf

from tfncsn import builders, hardware
from tfncsn.config import RunConfig

from conftest import run_cli

AMX_XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse sse2 avx2 fma avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile
processor\t: 1
model name\t: some other name
flags\t\t: fpu
"""
AVX2_ONLY = "model name\t: AMD EPYC 7B12\nflags\t\t: fpu sse avx2 fma\n"


def test_the_first_processor_names_the_cpu_and_its_features():
    assert hardware.parse_cpuinfo(AMX_XEON) == (
        "Intel(R) Xeon(R) Processor", ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16",
                                       "amx_bf16"])
    assert hardware.parse_cpuinfo(AVX2_ONLY) == ("AMD EPYC 7B12", ["avx2", "fma"])
    assert hardware.parse_cpuinfo("") == ("unknown", [])


def test_this_machine_is_described():
    name, features = hardware.cpu_description()
    assert name and set(features) <= set(hardware.CPU_FEATURES)


def fake_cpuinfo(monkeypatch, tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    monkeypatch.setattr(hardware, "CPUINFO", str(path))


@pytest.mark.parametrize("text, native", [
    (AMX_XEON, True),
    ("model name\t: EPYC\nflags\t\t: avx2 avx512f avx512_bf16\n", True),  # No AMX.
    ("model name\t: Sapphire Rapids VM\nflags\t\t: avx512f amx_bf16\n", True),
    (AVX2_ONLY, False),
    ("model name\t: AVX-512, no bfloat16\nflags\t\t: avx512f avx512_fp16\n", False)])
def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch, tmp_path, text,
                                                              native):
    fake_cpuinfo(monkeypatch, tmp_path, text)
    assert hardware.native_bfloat16() is native
    expected = "mixed_bfloat16" if native else "float32"
    assert builders.resolve_precision("auto") == expected
    model = builders.make_model("mlp", {}, (2,), [1.0, 0.5], "auto")
    assert model.dtype_policy.name == expected


def test_auto_precision_is_float32_on_a_gpu(monkeypatch, tmp_path):
    fake_cpuinfo(monkeypatch, tmp_path, AMX_XEON)
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    assert builders.resolve_precision("auto") == "float32"


def test_an_unreadable_cpuinfo_means_no_known_features(monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "CPUINFO", str(tmp_path / "missing"))
    assert hardware.cpu_description()[1] == []
    assert builders.resolve_precision("auto") == "float32"


def test_explicit_precisions_are_kept_and_auto_is_a_run_setting():
    for precision in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert builders.resolve_precision(precision) == precision
    assert RunConfig(precision="auto").architecture()["loss_scaling"] is False


def test_the_commands_say_what_auto_computes_in_and_the_run_keeps_auto(tmp_path):
    workdir = tmp_path / "run"
    said = f"precision auto: {builders.resolve_precision('auto')} on this machine"
    proc = run_cli("train", "--flagfile=configs/toy.cfg", f"--workdir={workdir}", "--steps=10",
                   "--log_every=10", "--precision=auto")
    assert said in proc.stderr.splitlines()
    assert json.loads((workdir / "config.json").read_text())["precision"] == "auto"
    proc = run_cli("sample", f"--workdir={workdir}", "--num_samples=4", "--steps_per_level=1",
                   f"--output={tmp_path / 's.npy'}")
    assert said in proc.stderr.splitlines()
