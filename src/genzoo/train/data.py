"""Training data as tensors (or lazy arrays), and a reproducible batch order with no DataLoader state to pickle.

Epoch `e` visits the examples in the order `randperm(n)` drawn from a generator seeded with
`seed * 1_000_003 + e`; the last partial batch is dropped. Batch `i` of the run is therefore a pure function of
(seed, i, n, batch_size): resuming needs only the step count. Under torchrun each process takes its contiguous
slice of batch `i` (`genzoo.train.distributed.shard`). `Prefetch` reads the batches of steps to come in DataLoader
worker processes, in that same order (for lazy data: a memory-mapped .npy, image files decoded on access).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from genzoo.data.lazy import LazyArray
from genzoo.errors import DataError


@dataclass
class Data:
    """Tensors (x, y) plus what the data set says about itself (kind, meta, name)."""

    x: Tensor | LazyArray
    y: Tensor | None = None
    kind: str = "points"
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "data"

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def infer_kind(x: Tensor) -> str:
    if not x.is_floating_point():
        return "text"
    return "image" if x.dim() == 4 else "points"


def as_data(data: Any, what: str = "training data") -> Data:
    """Accept an ArrayDataset (anything with .x and .y), a Tensor or LazyArray, or an (x, y) tuple."""
    if isinstance(data, Data):
        return data
    if isinstance(data, LazyArray):
        x, y, kind, meta, name = data, None, getattr(data, "kind", None), {}, data.name
    elif isinstance(data, Tensor):
        x, y, kind, meta, name = data, None, None, {}, "tensor"
    elif isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], (Tensor, LazyArray)):
        x, y = data
        kind, meta, name = None, {}, "tensor"
    elif hasattr(data, "x"):
        x, y = data.x, getattr(data, "y", None)
        kind, meta, name = getattr(data, "kind", None), dict(getattr(data, "meta", None) or {}), getattr(
            data, "name", type(data).__name__)
    else:
        raise DataError(
            f"{what}: expected a data set with .x/.y, a Tensor or an (x, y) tuple, got {type(data).__name__}"
        )
    if not isinstance(x, (Tensor, LazyArray)):
        x = torch.as_tensor(x)
    if y is not None and not isinstance(y, Tensor):
        y = torch.as_tensor(y)
    if x.dim() < 2 and infer_kind(x) != "text":
        raise DataError(f"{what}: expected at least 2 dimensions (N, ...), got shape {tuple(x.shape)}")
    if y is not None and y.shape[0] != x.shape[0]:
        raise DataError(f"{what}: {y.shape[0]} labels for {x.shape[0]} examples")
    return Data(x, y, kind or infer_kind(x), meta, str(name))


def as_windows(data: Data, shape: tuple[int, ...], stride: int | None = None) -> Data:
    """A text stream (1-D token ids) as the examples of a sequence model of data_shape (L,): its windows of L tokens
    (`genzoo.data.text.windows`, a strided view). `stride` 1 (training) gives every offset, nanoGPT's random
    windows; None means L (evaluation: the stream tiled once). Other data are returned unchanged."""
    if data.kind != "text" or data.x.dim() != 1 or len(shape) != 1:
        return data
    from genzoo.data.text import windows

    length = int(shape[0])
    return Data(windows(data.x, length, stride or length), data.y, data.kind, data.meta, data.name)


def epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


class BatchOrder:
    """Index tensor of batch number `i` (0-based over the whole run): seeded permutation per epoch."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n < batch_size:
            raise DataError(f"training data has {n} examples, fewer than batch_size = {batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.per_epoch = n // batch_size
        self._cache: tuple[int, Tensor] | None = None

    def position(self, i: int) -> tuple[int, int]:
        return divmod(i, self.per_epoch)

    def indices(self, i: int) -> Tensor:
        epoch, j = self.position(i)
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (epoch, epoch_permutation(self.n, self.seed, epoch))
        return self._cache[1][j * self.batch_size:(j + 1) * self.batch_size]

    def state(self, i: int) -> dict[str, int]:
        epoch, j = self.position(i)
        return {"n": self.n, "batch_size": self.batch_size, "seed": self.seed, "epoch": epoch, "batch": j,
                "next_batch": i}


class _Rows(torch.utils.data.Dataset):
    """Item `idx` (an index tensor) = (x[idx], y[idx] or None): one batch per item."""

    def __init__(self, x: Tensor | LazyArray, y: Tensor | None):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.x[idx], None if self.y is None else self.y[idx]


class _Steps(torch.utils.data.Sampler):
    """The index tensors of steps start .. end-1 (this process's slice of each)."""

    def __init__(self, order: BatchOrder, start: int, end: int, part):
        self.order, self.start, self.end, self.part = order, start, end, part

    def __iter__(self):
        for i in range(self.start, self.end):
            yield self.part(self.order.indices(i))

    def __len__(self) -> int:
        return max(0, self.end - self.start)


class Prefetch:
    """The batches of steps `start` .. `end - 1` read ahead by `workers` DataLoader worker processes (each reads
    whole batches; `prefetch_factor` 2 batches per worker in flight), in the order of `order`. `part` maps a global
    batch's indices to this process's (identity in one process). `get(i)` returns step i's (x, y) when i is the
    next step, else None (after a rollback the caller starts a new Prefetch)."""

    def __init__(self, data: Data, order: BatchOrder, start: int, end: int, workers: int, labels: bool,
                 part=lambda idx: idx):
        from torch.utils.data import DataLoader

        self.next = start
        loader = DataLoader(_Rows(data.x, data.y if labels else None), batch_size=None,
                            sampler=_Steps(order, start, end, part), num_workers=workers,
                            generator=torch.Generator().manual_seed(0))  # its worker seeds: not the run's RNG
        self._it = iter(loader)

    def get(self, i: int) -> tuple[Tensor, Tensor | None] | None:
        if i != self.next:
            return None
        self.next += 1
        return next(self._it)

    def close(self) -> None:
        """Stop the worker processes."""
        self._it = None
