"""Embeddings from the application's own model (Keras or TFLite) for external-embedding profiles.

``load_embedding_model(path, layer=..., tensor=...)`` wraps a ``.keras`` or ``.tflite`` model so
that ``embed(windows)`` returns, for each window of int16 sensor frames, the int8 embedding the
device pushes into its monitor with ``td_monitor_push_embedding``.

Preprocessing convention: the model's input is float ``int16 counts * input_scale`` (default
1/4096), the frames in the order and units the monitor sees them, one window of ``window`` frames
(input shape ``(window, n_channels)``). The profile does not store ``input_scale``: on the device
the application feeds its model itself, and it must use the same factor (for an int8 model:
``q = lroundf(counts * input_scale / s_in) + zp_in``, clamped to int8, with ``s_in``/``zp_in`` the
input tensor's quantization; ``EmbeddingModel.quantize_input`` does exactly this in float32).

Embedding quantization:

- ``.tflite`` model with int8 tensors (full-integer model): the embedding is that tensor's own
  int8 value, its scale and zero point are the tensor's quantization. The interpreter runs with
  TFLite's reference kernels (``OpResolverType.BUILTIN_REF``), the kernels TFLite Micro's are
  written to match bit for bit; TFLite's default optimized kernels (XNNPACK) round differently
  in a few percent of the values.
- ``.keras`` model, or a float ``.tflite`` model: the float output of the layer / tensor is
  quantized symmetric int8 (zero point 0) with ``scale = max |e| / 127`` over the training
  embeddings (``fit_quantization``; ``tinydrift.build_model_profile`` calls it), rounded to a
  multiple of 2^-24 so that the profile's ``ext_scale_q24`` is exactly the scale used here.

TensorFlow is optional: importing this module does not import it; loading a model does, and
raises a one-line TinyDriftError when it is missing.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tinydrift.core.wording import count
from tinydrift.core.fixed import Q24
from tinydrift.core.native import lib
from tinydrift.core.errors import InputError, TinyDriftError

DEFAULT_INPUT_SCALE = 1.0 / 4096
TF_MISSING = "TensorFlow is not installed: pip install 'tinydrift[tf]'"
_MAX_NAMES = 8


class TensorFlowMissingError(TinyDriftError, ImportError):
    """TensorFlow (needed to run Keras / TFLite models) is not importable."""


def _tensorflow() -> Any:
    """Import TensorFlow lazily, quietly, with a one-line error when it is missing."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise TensorFlowMissingError(TF_MISSING) from None
    return tf


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_NAMES])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _MAX_NAMES else "")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + "...") if len(text) > 200 else (text or type(exc).__name__)


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C's lroundf), in float64 (exact for float32 inputs)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _to_numpy(tensor: Any) -> np.ndarray:
    """A backend tensor as float64 numpy (.numpy() where it exists: no __array__ deprecation warning)."""
    if hasattr(tensor, "numpy"):
        return np.asarray(tensor.numpy(), dtype=np.float64)
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)


def check_scale(scale: float, what: str) -> int:
    """scale as ext_scale_q24 (round(scale * 2^24)); InputError when the profile cannot hold it."""
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"{what}: embedding scale must be positive, got {scale}")
    q24 = int(np.floor(scale * Q24 + 0.5))  # half away from zero, like every rounding of the core
    if not 1 <= q24 <= 0xFFFFFFFF or scale >= 256:
        raise InputError(f"{what}: embedding scale {scale:g} out of the profile's range "
                         f"[2^-24, 256) (ext_scale_q24 = scale * 2^24)")
    return q24


class EmbeddingModel:
    """A model that turns windows of int16 frames into int8 embeddings (see the module docstring).

    Attributes: ``path``, ``kind`` ("keras" or "tflite"), ``window`` (frames per model input),
    ``n_channels``, ``n_dims`` (embedding values), ``scale`` and ``zero_point`` (int8
    quantization of the embedding; ``scale`` is None for a float model until
    ``fit_quantization`` or ``set_quantization``), ``input_scale``, ``layer`` / ``tensor`` (what
    was selected; for TFLite ``tensor`` is the tensor's name), ``tensor_index``,
    ``output_index`` (TFLite: which model output the tensor is, None for an intermediate
    tensor; a TFLite Micro device can only read outputs), ``int8_tensor`` (True when the
    embedding is the model's own int8 tensor).
    """

    def __init__(self, path: Path, kind: str, window: int, n_channels: int, n_dims: int,
                 input_scale: float) -> None:
        self.path = path
        self.kind = kind
        self.window = window
        self.n_channels = n_channels
        self.n_dims = n_dims
        self.input_scale = float(input_scale)
        self.scale: float | None = None
        self.zero_point = 0
        self.layer: str | None = None
        self.tensor: str | None = None
        self.tensor_index: int | None = None
        self.output_index: int | None = None
        self.int8_tensor = False
        self.input_quantization: tuple[float, int] | None = None  # TFLite integer input: (scale, zero point)
        self._input_dtype: Any = np.float32
        self._out_dtype: Any = np.float32
        self._keras_sub: Any = None
        self._interp: Any = None
        self._input_index = 0

    def __repr__(self) -> str:
        what = f"layer {self.layer!r}" if self.layer is not None else f"tensor {self.tensor!r} (#{self.tensor_index})"
        return (f"EmbeddingModel({str(self.path)!r}, {what}, window={self.window}, channels={self.n_channels}, "
                f"dims={self.n_dims}, scale={self.scale}, zero_point={self.zero_point})")

    # ---------------------------------------------------------------- quantization

    @property
    def ext_scale_q24(self) -> int:
        """The profile's ext_scale_q24 for this model's embedding scale."""
        if self.scale is None:
            raise InputError(f"{self.path}: embedding scale not set (call fit_quantization on training windows)")
        return check_scale(self.scale, str(self.path))

    def set_quantization(self, scale: float, zero_point: int = 0) -> None:
        """Set the int8 quantization of a float embedding (e.g. from a profile's ext_scale_q24)."""
        if self.int8_tensor:
            if check_scale(scale, str(self.path)) != self.ext_scale_q24 or int(zero_point) != self.zero_point:
                raise InputError(f"{self.path}: the embedding tensor's own quantization (scale {self.scale:g}, "
                                 f"zero point {self.zero_point}) cannot be changed to scale {scale:g}, "
                                 f"zero point {zero_point}")
            return
        if not -128 <= int(zero_point) <= 127:
            raise InputError(f"embedding zero point must be in [-128, 127], got {zero_point}")
        self.scale = check_scale(scale, str(self.path)) / Q24
        self.zero_point = int(zero_point)

    def fit_quantization(self, windows: object) -> float:
        """Symmetric int8 scale max|e| / 127 (zero point 0) over the float embeddings of windows."""
        if self.int8_tensor:
            return float(self.scale)  # type: ignore[arg-type]
        peak = float(np.abs(self.embed_float(windows)).max(initial=0.0))
        if not np.isfinite(peak):
            raise InputError(f"{self.path}: the embedding is not finite on the training data")
        if peak == 0.0:
            raise InputError(f"{self.path}: the embedding {self._what()} is zero on every training window")
        q24 = max(1, int(np.ceil(peak / 127.0 * Q24)))  # ceil: max |e| maps to at most 127
        self.set_quantization(q24 / Q24, 0)
        return float(self.scale)  # type: ignore[arg-type]

    def _what(self) -> str:
        return f"layer {self.layer!r}" if self.layer is not None else f"tensor {self.tensor!r}"

    # ---------------------------------------------------------------- running

    def windows(self, frames: object) -> np.ndarray:
        """Cut frames (n x channels) into the model's tumbling windows: int16 (n // window, window, C)."""
        arr = np.asarray(frames)
        if arr.ndim != 2 or arr.shape[1] != self.n_channels:
            raise InputError(f"frames must be (n, {self.n_channels}) for {self.path}, got shape {arr.shape}")
        n = len(arr) // self.window
        return np.ascontiguousarray(arr[: n * self.window], dtype=np.int16).reshape(n, self.window, self.n_channels)

    def _check_windows(self, windows: object) -> np.ndarray:
        arr = np.asarray(windows)
        if arr.ndim != 3 or arr.shape[1:] != (self.window, self.n_channels):
            raise InputError(f"windows must have shape (n, {self.window}, {self.n_channels}) for {self.path}, "
                             f"got {arr.shape}")
        if arr.dtype != np.int16:
            if arr.size and (arr.dtype.kind not in "iu" or arr.min() < -32768 or arr.max() > 32767):
                raise InputError("windows must hold int16 sensor counts")
            arr = arr.astype(np.int16)
        return arr

    def model_input(self, windows: object) -> np.ndarray:
        """The float model input of windows: int16 counts * input_scale, as float32."""
        return self._check_windows(windows).astype(np.float32) * np.float32(self.input_scale)

    def quantize_input(self, windows: object) -> np.ndarray:
        """TFLite integer input: clamp(lroundf(counts * input_scale / s_in) + zp_in), all in float32."""
        if self.input_quantization is None:
            return self.model_input(windows)
        s_in, zp_in = self.input_quantization
        x = self.model_input(windows) / np.float32(s_in)  # float32 divide, as on the device
        info = np.iinfo(self._input_dtype)
        return np.clip(_round_half_away(x) + zp_in, info.min, info.max).astype(self._input_dtype)

    def embed_float(self, windows: object) -> np.ndarray:
        """Float embeddings (n, n_dims): the layer's output, or the int8 tensor dequantized."""
        if self.kind == "keras":
            x = self.model_input(windows)
            if not len(x):
                return np.zeros((0, self.n_dims))
            parts = [_to_numpy(self._keras_sub(x[i : i + 1024], training=False)) for i in range(0, len(x), 1024)]
            return np.concatenate(parts).reshape(len(x), self.n_dims)
        raw = self._run_tflite(windows)
        if self.int8_tensor:
            return (raw.astype(np.float64) - self.zero_point) * float(self.scale)  # type: ignore[arg-type]
        return raw.astype(np.float64)

    def embed(self, windows: object) -> np.ndarray:
        """int8 embeddings (n, n_dims) of int16 windows (n, window, n_channels)."""
        if self.int8_tensor:
            return self._run_tflite(windows).astype(np.int8)
        if self.scale is None:
            raise InputError(f"{self.path}: embedding scale not set (call fit_quantization on training windows)")
        e = self.embed_float(windows)
        return np.clip(_round_half_away(e / self.scale) + self.zero_point, -128, 127).astype(np.int8)

    def _run_tflite(self, windows: object) -> np.ndarray:
        q = self.quantize_input(windows)
        out = np.empty((len(q), self.n_dims), dtype=self._out_dtype)
        interp = self._interp
        for i in range(len(q)):  # batch 1, as on the device
            interp.set_tensor(self._input_index, q[i : i + 1])
            interp.invoke()
            out[i] = interp.get_tensor(self.tensor_index).reshape(-1)
        return out


# -------------------------------------------------------------------------------- loading


def load_embedding_model(path: str | Path, layer: str | None = None, tensor: str | int | None = None,
                         input_scale: float = DEFAULT_INPUT_SCALE) -> EmbeddingModel:
    """Load a .keras model (embedding = output of ``layer``) or a .tflite model (``tensor``: a
    tensor name, a tensor index, or ``"output:N"`` for the model's N-th output)."""
    path = Path(path)
    if not (np.isfinite(input_scale) and input_scale > 0):
        raise InputError(f"input scale must be a positive number, got {input_scale}")
    ext = path.suffix.lower()
    if ext not in (".keras", ".tflite"):
        raise InputError(f"{path}: unsupported model type {path.suffix or '(no extension)'!r}; "
                         "supported: .keras (with --layer) and .tflite (with --tensor)")
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    if ext == ".keras":
        if tensor is not None:
            raise InputError(f"{path}: a .keras model selects its embedding with layer=NAME, not tensor")
        model = _load_keras(path, layer, input_scale)
    else:
        if layer is not None:
            raise InputError(f"{path}: a .tflite model selects its embedding with tensor=NAME|INDEX|output:N, "
                             "not layer")
        model = _load_tflite(path, tensor, input_scale)
    if not 2 <= model.window <= lib.TD_MAX_WINDOW:
        raise InputError(f"{path}: model input of {model.window} frames; the monitor's window must be 2.."
                         f"{lib.TD_MAX_WINDOW}")
    if not 1 <= model.n_channels <= lib.TD_MAX_CHANNELS:
        raise InputError(f"{path}: model input of {model.n_channels} channels; the core supports 1.."
                         f"{lib.TD_MAX_CHANNELS}")
    if not 1 <= model.n_dims <= lib.TD_MAX_DIMS:
        raise InputError(f"{path}: the embedding {model._what()} has {model.n_dims} values; the core supports "
                         f"at most {lib.TD_MAX_DIMS} (TD_MAX_DIMS): pick a smaller layer")
    return model


def _input_shape(path: Path, shape: tuple, what: str) -> tuple[int, int]:
    dims = tuple(None if d is None or int(d) < 0 else int(d) for d in shape)
    if len(dims) != 3 or dims[1] is None or dims[2] is None or dims[0] not in (None, 1):
        shown = "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"
        raise InputError(f"{path}: {what} input shape {shown} is not (batch, window, channels)")
    return dims[1], dims[2]


def _load_keras(path: Path, layer: str | None, input_scale: float) -> EmbeddingModel:
    _tensorflow()
    import keras

    try:
        full = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any loader failure is "not a usable model"
        raise InputError(f"{path}: cannot load Keras model: {_one_line(exc)}") from None
    layer_names = [lyr.name for lyr in full.layers]
    if layer is None:
        raise InputError(f"{path}: name the embedding layer (layer=NAME / --layer NAME); layers: "
                         f"{_names(layer_names)}")
    if layer not in layer_names:
        raise InputError(f"{path}: no layer named {layer!r}; layers: {_names(layer_names)}")
    if len(full.inputs) != 1:
        raise InputError(f"{path}: model has {len(full.inputs)} inputs; need one (batch, window, channels) input")
    window, n_channels = _input_shape(path, tuple(full.inputs[0].shape), "model")
    out = full.get_layer(layer).output
    if isinstance(out, (list, tuple)):
        raise InputError(f"{path}: layer {layer!r} has {len(out)} outputs; pick a layer with one")
    shape = tuple(out.shape)[1:]
    if len(shape) != 1 or shape[0] is None:
        raise InputError(f"{path}: layer {layer!r} outputs shape {shape}; the embedding must be a vector "
                         "(a Dense layer or a layer after global pooling)")
    model = EmbeddingModel(path, "keras", window, n_channels, int(shape[0]), input_scale)
    model.layer = layer
    model._keras_sub = keras.Model(full.inputs[0], out)  # one input, not a list: called with a plain array
    return model


def _interpreter(tf: Any, path: Path) -> Any:
    interp_cls = getattr(getattr(tf, "lite", None), "Interpreter", None)
    resolver = getattr(getattr(getattr(tf, "lite", None), "experimental", None), "OpResolverType", None)
    if interp_cls is None:  # TensorFlow without tf.lite.Interpreter: the LiteRT package
        try:
            from ai_edge_litert.interpreter import Interpreter as interp_cls  # type: ignore[no-redef]
            from ai_edge_litert.interpreter import OpResolverType as resolver  # type: ignore[no-redef]
        except ImportError:
            raise TinyDriftError("this TensorFlow has no tf.lite.Interpreter: pip install ai-edge-litert") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            interp = interp_cls(model_path=str(path), experimental_preserve_all_tensors=True,
                                experimental_op_resolver_type=resolver.BUILTIN_REF)
            interp.allocate_tensors()
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot load TFLite model: {_one_line(exc)}") from None
    return interp


def _load_tflite(path: Path, tensor: str | int | None, input_scale: float) -> EmbeddingModel:
    tf = _tensorflow()
    interp = _interpreter(tf, path)
    inputs = interp.get_input_details()
    outputs = interp.get_output_details()
    details = interp.get_tensor_details()
    by_index = {int(d["index"]): d for d in details}
    output_indices = [int(o["index"]) for o in outputs]
    if len(inputs) != 1:
        raise InputError(f"{path}: model has {len(inputs)} inputs; need one (batch, window, channels) input")
    inp = inputs[0]
    window, n_channels = _input_shape(path, tuple(int(d) for d in inp["shape"]), "model")
    outputs_text = "; ".join(f"output:{i} = #{o['index']} {o['name']} {list(map(int, o['shape']))}"
                             for i, o in enumerate(outputs))
    if tensor is None:
        raise InputError(f"{path}: name the embedding tensor (tensor=NAME|INDEX|output:N / --tensor); "
                         f"{outputs_text}")
    index = _tensor_index(path, tensor, details, output_indices, outputs_text)
    d = by_index[index]
    shape = [int(s) for s in d["shape"]]
    n_dims = int(np.prod(shape)) if shape else 1
    if len(shape) == 0 or any(s != 1 for s in shape[:-1]):
        raise InputError(f"{path}: tensor #{index} {d['name']!r} has shape {shape}; the embedding must be a "
                         "vector (batch, n)")
    dtype = np.dtype(d["dtype"])
    quantized = [t for t in details if np.dtype(t["dtype"]) in (np.int8, np.uint8) and t["quantization"][0] > 0]
    model = EmbeddingModel(path, "tflite", window, n_channels, n_dims, input_scale)
    model.tensor = str(d["name"])
    model.tensor_index = index
    model.output_index = output_indices.index(index) if index in output_indices else None
    model._interp = interp
    model._input_index = int(inp["index"])
    model._input_dtype = np.dtype(inp["dtype"]).type
    model._out_dtype = dtype
    in_dtype = np.dtype(inp["dtype"])
    if in_dtype in (np.int8, np.uint8, np.int16):
        s_in, zp_in = inp["quantization"]
        if not s_in > 0:
            raise InputError(f"{path}: integer model input without quantization parameters")
        model.input_quantization = (float(s_in), int(zp_in))
    elif in_dtype != np.float32:
        raise InputError(f"{path}: model input of type {in_dtype}; supported: int8, uint8, int16, float32")
    if quantized:  # an integer model: the device's embedding is the tensor's own int8 value
        scale, zero_point = d["quantization"]
        params = d.get("quantization_parameters") or {}
        if dtype != np.int8 or not scale > 0:
            raise InputError(f"{path}: tensor #{index} {d['name']!r} is {dtype.name}"
                             f"{'' if scale > 0 else ' (not quantized)'}; in an int8 model the embedding must "
                             f"be an int8 tensor")
        if len(np.atleast_1d(params.get("scales", [scale]))) > 1:
            raise InputError(f"{path}: tensor #{index} {d['name']!r} is quantized per channel; the embedding "
                             "needs one scale and zero point")
        check_scale(float(scale), f"{path}: tensor #{index} {d['name']!r}")
        model.scale = float(scale)
        model.zero_point = int(zero_point)
        model.int8_tensor = True
    elif dtype != np.float32:
        raise InputError(f"{path}: tensor #{index} {d['name']!r} is {dtype.name}; a float model's embedding "
                         "must be float32")
    return model


def _tensor_index(path: Path, tensor: str | int, details: list[dict], output_indices: list[int],
                  outputs_text: str) -> int:
    valid = {int(d["index"]) for d in details}
    text = str(tensor).strip()
    if isinstance(tensor, (int, np.integer)) or text.lstrip("-").isdigit():
        index = int(text)
        if index not in valid:
            raise InputError(f"{path}: no tensor #{index} (indices 0..{max(valid)}); {outputs_text}")
        return index
    if text.lower().startswith("output:") and text[7:].isdigit():
        n = int(text[7:])
        if n >= len(output_indices):
            raise InputError(f"{path}: model has {count(len(output_indices), 'output')}; {outputs_text}")
        return output_indices[n]
    matches = [int(d["index"]) for d in details if str(d["name"]) == text]
    if not matches:
        # Activations (batch dimension 1) first: those are the candidates, weights and constants are not.
        def short(d: dict) -> str:
            name = str(d["name"])
            return f"#{d['index']} " + (name if len(name) <= 40 else name[:37] + "...")

        activations = [short(d) for d in details if len(d["shape"]) >= 2 and int(d["shape"][0]) == 1]
        named = activations or [short(d) for d in details]
        raise InputError(f"{path}: no tensor named {text!r}; {outputs_text}; activation tensors: {_names(named)}")
    return matches[0]
