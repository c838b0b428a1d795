"""The base of every config section: unknown keys are errors, and a loaded config never changes."""
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. `extra="forbid"` turns a typo in the YAML into an error naming the key path.

    Frozen: components built from a config keep seeing the values they were built with; a change makes a new
    config (`app.config.with_changes`) and whoever owns the affected components rebuilds them from it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_device(value: str) -> str:
    """A torch device this machine has: `cpu`, `cuda`, `cuda:N` (N below the CUDA device count), or `mps`.

    Checked when the config loads, so `cuda:7` on a machine without it fails with the key path and the devices
    there are, not later in the middle of a run. torch is imported only for a non-CPU device.
    """
    text = value.strip().lower()
    if text == "cpu":
        return text
    kind, _, index = text.partition(":")
    if kind not in ("cuda", "mps") or (index and not index.isdigit()) or (kind == "mps" and index):
        raise ValueError(f"{value!r} is not a torch device; use cpu, cuda, cuda:N or mps")
    import torch

    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("mps is not available on this machine; use cpu")
        return text
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if int(index or 0) >= count:
        have = f"its CUDA devices are cuda:0 to cuda:{count - 1}" if count else "it has no CUDA device"
        raise ValueError(f"{value} is not on this machine ({have}); use cpu")
    return text


TorchDevice = Annotated[str, AfterValidator(check_device)]
