"""One floating-point arithmetic on every x86-64 machine: the environment that keeps processor-specific code paths
of numpy and OpenBLAS out of the compendium's numbers.

numpy picks its loops for exp, log and friends by the processor it finds: on a processor with AVX-512 it takes
the AVX-512 ones, which round differently in the last bit from the AVX2 and scalar ones. OpenBLAS picks its
kernels the same way (SkylakeX on AVX-512, Haswell on AVX2). A last bit is far below any printed digit, but not
below a fit's convergence test or an interval's bracket: a separated cloglog fit found one end of a profile
interval on one machine and not on another. So every process that makes or checks exhibits (the notebooks'
kernels, the `upgrading` command, the test suite) runs numpy at the AVX2 level and OpenBLAS's Haswell kernels,
which every x86-64 processor with AVX2 and FMA runs alike. On other processors (ARM, such as Apple silicon) the
variables change nothing, and last digits may differ. Both variables are read when the libraries load, so they
must be set before numpy is imported; a value the user set is kept.
"""

from __future__ import annotations

import os
import platform

#: numpy's dispatch targets above AVX2 (numpy 2.4's names; a target the processor lacks is ignored silently)
NUMPY_FEATURES_OFF = "X86_V4 AVX512_ICL AVX512_SPR"
OPENBLAS_KERNELS = "Haswell"


def _has_avx2_and_fma() -> bool:
    """Whether this Linux machine's processor has AVX2 and FMA (what OpenBLAS's Haswell kernels need)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return {"avx2", "fma"} <= flags
    except OSError:
        pass
    return False


def numerics_environment() -> dict[str, str]:
    """The variables that pin numpy's and OpenBLAS's code paths on this machine (empty where nothing to pin)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    env = {"NPY_DISABLE_CPU_FEATURES": NUMPY_FEATURES_OFF}
    if _has_avx2_and_fma():
        env["OPENBLAS_CORETYPE"] = OPENBLAS_KERNELS
    return env


def pin_numerics() -> None:
    """Set `numerics_environment()` in this process (and so in every process it starts), keeping a user's own
    values; before numpy is imported, it applies to this process too."""
    for name, value in numerics_environment().items():
        os.environ.setdefault(name, value)


__all__ = ["NUMPY_FEATURES_OFF", "OPENBLAS_KERNELS", "numerics_environment", "pin_numerics"]
