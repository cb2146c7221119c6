"""Loading and running one model: LiteRT's interpreter (``tflite-runtime`` where LiteRT has no wheel).

``Model.load`` checks the file against its card (sha256, tensor shapes and types) so that every problem
shows when the config is checked, not at the first window. ``Model.classify`` is the hot path: it folds
the card's normalisation and the input tensor's quantisation into one multiply-add per value.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from agent.errors import ModelError
from agent.inference.card import ModelCard, load_card, resolve_model_dir

log = logging.getLogger(__name__)


def _find_runtime() -> tuple[Any, str, str]:
    """LiteRT where it has a wheel, else tflite-runtime; chosen once, at import.

    Returns the interpreter class (None if neither loads), the runtime's name, and why tflite-runtime
    could not be used when it is installed but does not load ("" otherwise).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter as LiteRT
    except ImportError:
        pass
    else:
        return LiteRT, "ai-edge-litert", ""
    try:
        from tflite_runtime.interpreter import Interpreter as TFLite
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("tflite_runtime"):
            return None, "none", ""
        return None, "none", f"tflite-runtime is installed but does not load: {exc}"
    except Exception as exc:  # noqa: BLE001 - a wheel built for NumPy 1.x fails in many ways under NumPy 2
        return None, "none", f"tflite-runtime is installed but does not load: {exc}"
    if int(np.__version__.split(".", 1)[0]) >= 2:
        # Its last release is built against NumPy 1.x: it imports, then fails inside Interpreter().
        return None, "none", f"tflite-runtime is built for NumPy 1.x but NumPy {np.__version__} is installed"
    return TFLite, "tflite-runtime", ""


Interpreter, RUNTIME, _TFLITE_PROBLEM = _find_runtime()

# Platforms (interpreter word size, machine) for which LiteRT publishes wheels.
LITERT_MACHINES = frozenset({"x86_64", "aarch64", "arm64", "AMD64"})


def unavailable(machine: str, bits: int, tflite_problem: str = "") -> ModelError:
    """The error for a model load on a host without a usable runtime, naming what to do on it.

    ``machine`` is the kernel's (``platform.machine()``); ``bits`` the interpreter's word size, which
    tells a 32-bit Raspberry Pi OS apart even on a 64-bit kernel (where ``machine`` says aarch64).
    """
    why = f"; {tflite_problem}" if tflite_problem else ""
    numpy = ""
    if "numpy" in tflite_problem.lower():
        numpy = "install NumPy 1.x for tflite-runtime (pip install 'numpy<2')"
    if bits == 64 and machine in LITERT_MACHINES:
        hint = "install LiteRT: pip install 'hearth-agent[litert]' (scripts/install-service does)"
        if numpy:
            hint = f"{hint}, or {numpy}"
        return ModelError(f"no model runtime is installed{why}", hint=hint)
    return ModelError(
        f"on-device models are unavailable on this platform ({bits}-bit Python on {machine}): "
        f"LiteRT has no build for it{why}",
        hint=numpy
        or "install tflite-runtime where a wheel exists (with NumPy 1.x), or use a 64-bit OS; "
        "every other layer runs",
    )


def unavailable_here() -> ModelError:
    """``unavailable`` for this host."""
    import platform
    import struct

    return unavailable(platform.machine(), struct.calcsize("P") * 8, _TFLITE_PROBLEM)


class Prediction(NamedTuple):
    """One window's result: the winning class and its probability."""

    class_index: int
    label: str
    confidence: float


class TensorQuant(NamedTuple):
    """A tensor's affine quantisation (``real = scale * (q - zero_point)``); scale 0 means float."""

    scale: float
    zero_point: int
    dtype: Any


def _quant(detail: dict[str, Any]) -> TensorQuant:
    scale, zero_point = detail["quantization"]
    return TensorQuant(float(scale), int(zero_point), detail["dtype"])


class Model:
    """A model folder loaded into an interpreter and checked against its card."""

    def __init__(self, directory: Path, card: ModelCard, interpreter: Any, num_threads: int) -> None:
        self.directory = directory
        self.card = card
        self.num_threads = num_threads
        self.interpreter = interpreter
        inp = interpreter.get_input_details()[0]
        outputs = interpreter.get_output_details()
        # Output 0 is the classifier; a card may name a second one as the embedding.
        out = outputs[0]
        self._find_embedding(outputs)
        self.input_index: int = inp["index"]
        self.output_index: int = out["index"]
        self.input_quant = _quant(inp)
        self.output_quant = _quant(out)
        self.input_shape = tuple(int(v) for v in inp["shape"])
        self.output_shape = tuple(int(v) for v in out["shape"])
        shape = (1, card.window, len(card.inputs))
        self._work = np.empty(shape, dtype=np.float32)
        self._work_window = self._work[0]
        self._tensor = np.empty(shape, dtype=self.input_quant.dtype)
        self._quantised_input = bool(self.input_quant.scale)
        self._fold_input(card)
        self._out_scale = self.output_quant.scale
        self._out_zero = self.output_quant.zero_point
        self._labels = card.labels
        self._shape = shape
        # Float input and nothing to normalise: raw samples go to the interpreter as they are.
        self._passthrough = card.normalisation.kind in ("none", "in_model") and not self._quantised_input

    def _fold_input(self, card: ModelCard) -> None:
        """The constants that turn a raw window into the input tensor (``quantise``)."""
        in_scale = self.input_quant.scale if self._quantised_input else 1.0
        in_zero = self.input_quant.zero_point if self._quantised_input else 0
        self._in_zero = in_zero
        norm = card.normalisation
        n = len(card.inputs)
        self._gain: np.ndarray | None
        self._offset: np.ndarray | None
        # Normalisation and input quantisation fold into one affine map: q = x * gain + offset.
        if norm.kind == "standardise":
            inv = 1.0 / (np.asarray(norm.std, dtype=np.float64) * in_scale)
            self._gain = inv.astype(np.float32)
            self._offset = (in_zero - np.asarray(norm.mean) * inv).astype(np.float32)
        elif norm.kind in ("none", "in_model"):
            self._gain = np.full(n, 1.0 / in_scale, dtype=np.float32)
            self._offset = np.full(n, in_zero, dtype=np.float32)
        else:
            self._gain = self._offset = None
        self._low = self._high = np.float32(0.0)
        if self._quantised_input:
            info = np.iinfo(self.input_quant.dtype)
            self._low, self._high = np.float32(info.min), np.float32(info.max)
        # The z-score's constants as the NumPy scalars its steps convert them to: the same results, and an
        # operation on one-input statistics kept as NumPy scalars costs a tenth of one on a 1-element array.
        self._one_input = n == 1
        self._size64 = np.float64(card.window)
        self._size32 = np.float32(card.window)
        self._epsilon32 = np.float32(norm.epsilon)
        self._in_scale32 = np.float32(in_scale)
        self._one32 = np.float32(1.0)

    def _find_embedding(self, outputs: list[dict[str, Any]]) -> None:
        self.embedding_index: int | None = None
        self.embedding_quant = TensorQuant(0.0, 0, np.float32)
        self.embedding_shape: tuple[int, ...] = ()
        spec = self.card.embedding
        if spec is not None and spec.output < len(outputs):
            emb = outputs[spec.output]
            self.embedding_index = emb["index"]
            self.embedding_quant = _quant(emb)
            self.embedding_shape = tuple(int(v) for v in emb["shape"])
        self._embedding_zero = np.float32(self.embedding_quant.zero_point)
        self._embedding_scale = np.float32(self.embedding_quant.scale)

    @property
    def name(self) -> str:
        """The model's name from its card."""
        return self.card.name

    @property
    def model_file(self) -> Path:
        """The ``.tflite`` file."""
        return self.directory / self.card.file

    @classmethod
    def load(cls, ref: str | Path, *, num_threads: int = 1) -> Model:
        """Load the model at ``ref`` (``builtin:NAME`` or a folder); raise ``ModelError`` if it is unfit."""
        directory = resolve_model_dir(str(ref))
        card = load_card(directory)
        path = directory / card.file
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"{path}: cannot read model file: {exc.strerror}") from exc
        digest = hashlib.sha256(content).hexdigest()
        if digest != card.sha256.lower():
            raise ModelError(
                f"{path}: sha256 {digest} does not match the card's {card.sha256}",
                hint="the file was changed or damaged; restore it or retrain and rewrite the card",
            )
        if Interpreter is None:
            raise unavailable_here()
        try:
            interpreter = Interpreter(model_content=content, num_threads=num_threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: not a loadable TFLite model: {exc}") from exc
        model = cls(directory, card, interpreter, num_threads)
        model._check_shapes(path)
        return model

    def _check_shapes(self, path: Path) -> None:
        card = self.card
        want_in = (1, card.window, len(card.inputs))
        if self.input_shape != want_in:
            raise ModelError(
                f"{path}: input shape {list(self.input_shape)} does not match the card "
                f"(window {card.window} x {len(card.inputs)} inputs = {list(want_in)})"
            )
        want_out = (1, len(card.labels))
        if self.output_shape != want_out:
            raise ModelError(
                f"{path}: output shape {list(self.output_shape)} does not match the card's "
                f"{len(card.labels)} labels"
            )
        if card.embedding is not None and self.embedding_shape != (1, card.embedding.size):
            found = list(self.embedding_shape) if self.embedding_index is not None else "no such output"
            raise ModelError(
                f"{path}: output {card.embedding.output} ({found}) is not the card's embedding of "
                f"{card.embedding.size} values"
            )

    def quantise(self, window: np.ndarray) -> np.ndarray:
        """Turn a raw window (window x inputs, card units) into the input tensor (1 x window x inputs).

        The returned array is reused by the next call.
        """
        if self._passthrough:
            if window.dtype != np.float32:
                window = window.astype(np.float32)
            return window.reshape(self._shape)
        work = self._work_window
        if self._gain is None:
            # Per-window z-score: centre first, then the spread of the centred values (no cancellation).
            total = np.add.reduce(window, axis=0, dtype=np.float64)
            if self._one_input:
                total = total[0]
            np.subtract(window, total / self._size64, out=work, casting="unsafe")
            square = np.einsum("ij,ij->j", work, work)
            if self._one_input:
                square = square[0]
            std = np.sqrt(square / self._size32)
            gain = self._one32 / ((std + self._epsilon32) * self._in_scale32)
            np.multiply(work, gain, out=work, casting="unsafe")
            np.add(work, self._in_zero, out=work, casting="unsafe")
        else:
            gain, offset = self._gain, self._offset
            assert offset is not None
            np.multiply(window, gain, out=work, casting="unsafe")
            np.add(work, offset, out=work, casting="unsafe")
        if not self._quantised_input:
            return self._work
        work.clip(self._low, self._high, out=work)
        np.rint(self._work, out=self._tensor, casting="unsafe")
        return self._tensor

    def classify(self, window: np.ndarray) -> Prediction:
        """Run one raw window (window x inputs) through the model."""
        interpreter = self.interpreter
        interpreter.set_tensor(self.input_index, self.quantise(window))
        interpreter.invoke()
        raw = interpreter.get_tensor(self.output_index)  # one row: its flat indices are the classes
        best = int(raw.argmax())
        if self._out_scale:
            confidence = (raw.item(best) - self._out_zero) * self._out_scale
        else:
            confidence = raw.item(best)
        return Prediction(best, self._labels[best], confidence)

    def probabilities(self) -> np.ndarray:
        """Every class's probability from the last ``classify`` call."""
        raw = np.asarray(self.interpreter.get_tensor(self.output_index)[0], dtype=np.float32)
        if self._out_scale:
            raw = (raw - np.float32(self._out_zero)) * np.float32(self._out_scale)
        return raw

    def embedding(self) -> np.ndarray:
        """The embedding (the model's second output) from the last ``classify`` call, as float32.

        ``ModelError`` if the model's card names no embedding.
        """
        if self.embedding_index is None:
            raise ModelError(
                f"model {self.name!r} has no embedding output",
                hint="retrain it with a train.py that exports one (models/README.md)",
            )
        raw = self.interpreter.get_tensor(self.embedding_index)[0]
        if self._embedding_scale:
            # Dequantised in float32 (the integer values convert exactly), without a float copy first.
            out: np.ndarray = np.subtract(raw, self._embedding_zero, dtype=np.float32)
            out *= self._embedding_scale
            return out
        return np.asarray(raw, dtype=np.float32)

    def classify_many(self, windows: np.ndarray) -> list[Prediction]:
        """Classify every window of ``windows`` (n x window x inputs)."""
        return [self.classify(w) for w in windows]
