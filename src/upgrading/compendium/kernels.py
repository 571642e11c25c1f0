"""The kernels `upgrading run` starts: their fixed environment, a kernel manager that passes it (and the working
folder) to each kernel without touching the caller's, and how a kernel is stopped with its process group."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def kernel_environment() -> dict[str, str]:
    """Environment for notebook kernels: fixed hash seed and dates, and this environment's kernels first."""
    env = {
        "PYTHONHASHSEED": "0",
        "SOURCE_DATE_EPOCH": "0",
        # Neither the caller's time zone, nor its locale's encoding, nor the machine's number of cores (BLAS and
        # OpenMP pools size themselves to it, and a reduction split differently rounds differently) reaches a
        # kernel. joblib's workers are sized by the notebooks' own n_jobs (`settings.notebook_workers`).
        "TZ": "UTC",
        "PYTHONUTF8": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        # Kernels may cache bytecode in .venv/ even where PYTHONDONTWRITEBYTECODE is set, so that only the first
        # kernel compiles the scientific stack (bytecode is not compiled at install: that costs about 20 s more).
        "PYTHONDONTWRITEBYTECODE": "",
        # The python3 kernelspec of this interpreter's prefix wins over any user-wide one.
        "JUPYTER_PATH": os.pathsep.join(
            [str(Path(sys.prefix) / "share" / "jupyter")]
            + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
        ),
    }
    return env


def kernel_manager(env: dict[str, str], cwd: Path | None = None, on_start=None):
    """A Jupyter kernel manager class whose kernels start with `env`, in `cwd` if given: the kernel gets its
    environment and working folder passed, and the caller's own are left as they were (papermill's `cwd` changes
    the whole process's working folder, which two notebooks run side by side in threads would race on).
    `on_start(manager)` is called once its kernel runs (how an interrupted run finds the kernels to stop)."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelManager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):
            kw["env"] = dict(env)
            if cwd is not None:
                kw["cwd"] = str(cwd)
            return await super()._async_pre_start_kernel(**kw)

        async def _async_post_start_kernel(self, **kw):
            await super()._async_post_start_kernel(**kw)
            if on_start is not None:
                on_start(self)

        async def _async_interrupt_kernel(self):
            # jupyter_client interrupts every kernel before its shutdown request; a notebook's kernel is idle by
            # then, and an idle kernel that gets the SIGINT at the wrong moment writes "KeyboardInterrupt caught
            # in kernel" to the run's stderr. Its shutdown request (then SIGTERM, SIGKILL) stops it without.
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return KernelManager


def kill_kernel(manager) -> None:
    """Kill a kernel and its process group (its joblib workers too), as jupyter_client's own kill does."""
    import signal

    provisioner = getattr(manager, "provisioner", None)
    process, group = getattr(provisioner, "process", None), getattr(provisioner, "pgid", None)
    try:
        if group and hasattr(os, "killpg"):
            os.killpg(group, signal.SIGKILL)
        elif process is not None:
            process.kill()
    except OSError:  # already gone
        pass
