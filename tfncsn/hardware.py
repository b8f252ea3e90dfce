"""What the CPU can do fast, read from Linux's /proc/cpuinfo (elsewhere: nothing known).

It only reads a file (no TensorFlow): `builders.resolve_precision` decides
`--precision=auto` from it, and the benchmark reports the same features beside its figures.
"""

from __future__ import annotations

import platform

# CPU features that decide which precision is fast (Linux /proc/cpuinfo names).
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16")
# Either makes TensorFlow's (oneDNN's) bfloat16 matmuls and convolutions native; without
# them the graph kernels emulate bfloat16 at a tenth of float32's rate (docs/performance.md).
NATIVE_BFLOAT16 = ("avx512_bf16", "amx_bf16")
CPUINFO = "/proc/cpuinfo"


def parse_cpuinfo(text: str) -> tuple[str, list[str]]:
    """The first processor's model name and which of `CPU_FEATURES` it lists."""
    name, flags = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and name == "unknown":
            name = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return name, [feature for feature in CPU_FEATURES if feature in flags]


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and which of `CPU_FEATURES` it has (Linux; elsewhere unknown)."""
    try:
        with open(CPUINFO) as f:
            return parse_cpuinfo(f.read())
    except OSError:
        return platform.processor() or platform.machine(), []


def native_bfloat16() -> bool:
    """Whether the CPU computes bfloat16 matmuls natively (AVX512_BF16 or AMX-BF16)."""
    return any(feature in NATIVE_BFLOAT16 for feature in cpu_description()[1])
