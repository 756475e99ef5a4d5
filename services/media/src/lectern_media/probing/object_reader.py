"""A read-only, seekable file over one S3 object, made of ranged GETs: FFmpeg reads what it needs
(the header, the index, the first packets) and never the whole object. A few blocks are kept (LRU),
so memory is ``block_bytes * cached_blocks`` whatever the file's size; the total read is capped."""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Any


class ReadBudgetExceeded(Exception):
    """The probe wanted more of the object than its read budget allows."""


class RangedObjectReader(io.RawIOBase):
    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        size: int,
        *,
        block_bytes: int,
        cached_blocks: int,
        max_read_bytes: int,
    ) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._block = block_bytes
        self._keep = max(1, cached_blocks)
        self._budget = max_read_bytes
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._pos = 0
        self.bytes_fetched = 0
        self.requests = 0
        self.over_budget = False

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if target < 0:
            raise ValueError("negative seek position")
        self._pos = target
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or not len(view):
            return 0
        index, start = divmod(self._pos, self._block)
        block = self._fetch(index)
        n = min(len(view), len(block) - start)
        view[:n] = block[start : start + n]
        self._pos += n
        return n

    def _fetch(self, index: int) -> bytes:
        cached = self._blocks.get(index)
        if cached is not None:
            self._blocks.move_to_end(index)
            return cached
        first = index * self._block
        last = min(first + self._block, self._size) - 1
        if self.bytes_fetched + (last - first + 1) > self._budget:
            self.over_budget = True
            raise ReadBudgetExceeded(f"the probe would read more than {self._budget} bytes of the file")
        response = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={first}-{last}")
        data = response["Body"].read()
        self.requests += 1
        self.bytes_fetched += len(data)
        self._blocks[index] = data
        while len(self._blocks) > self._keep:
            self._blocks.popitem(last=False)
        return data
