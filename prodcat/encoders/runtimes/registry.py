"""The one place that chooses an encoder runtime by its name (`inference.runtime`, the bundle's manifest).

Adding a runtime: a module here with a class whose `load(source, settings)` returns an `EncoderRuntime`,
its name in `prodcat.core.params.Runtime`, and a line in `LOADERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prodcat.core.params import Runtime
from prodcat.encoders.runtimes.base import EncoderRuntime, RuntimeSettings
from prodcat.encoders.runtimes.onnx_int8 import Int8Encoder
from prodcat.encoders.runtimes.openvino import OpenVinoEncoder
from prodcat.encoders.runtimes.torch import TorchEncoder

# name -> load(source, settings): source is the encoder (a name or a sentence-transformers folder), or for
# onnx_int8 the export folder the embed stage wrote from it (`export_int8`).
LOADERS: dict[Runtime, Callable[[str, RuntimeSettings], EncoderRuntime]] = {
    "torch": TorchEncoder.load,
    "onnx_int8": Int8Encoder.load,
    "openvino": OpenVinoEncoder.load,
}


def load_runtime(name: Runtime, source: str | Path, settings: RuntimeSettings) -> EncoderRuntime:
    """The encoder at `source` run by runtime `name`."""
    return LOADERS[name](str(source), settings)
