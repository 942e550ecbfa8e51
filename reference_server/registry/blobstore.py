"""Blob bytes on disk, content-addressed: <blob_dir>/sha256/<first two hex>/<hex>; uploads in progress under
<blob_dir>/uploads/<uuid>."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1024 * 1024


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "uploads").mkdir(parents=True, exist_ok=True)
        (root / "sha256").mkdir(parents=True, exist_ok=True)

    def upload_path(self, uuid: str) -> str:
        return f"uploads/{uuid}"

    def relative_path(self, digest: str) -> str:
        hexpart = digest.split(":", 1)[1]
        return f"sha256/{hexpart[:2]}/{hexpart}"

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def start_upload(self, uuid: str) -> str:
        relative = self.upload_path(uuid)
        self.absolute(relative).touch()
        return relative

    def append(self, relative: str, data: bytes) -> None:
        with open(self.absolute(relative), "ab") as fh:
            fh.write(data)

    def size(self, relative: str) -> int:
        return self.absolute(relative).stat().st_size

    def truncate(self, relative: str, size: int) -> None:
        """Drop bytes a refused chunk left behind, so the upload resumes where the database says."""
        with open(self.absolute(relative), "r+b") as fh:
            fh.truncate(size)

    def digest_of(self, relative: str) -> str:
        h = hashlib.sha256()
        with open(self.absolute(relative), "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
        return "sha256:" + h.hexdigest()

    def commit(self, upload_relative: str, digest: str) -> str:
        """Move a verified upload to its content address (the same bytes may already be there)."""
        target = self.relative_path(digest)
        path = self.absolute(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self.discard(upload_relative)
        else:
            os.replace(self.absolute(upload_relative), path)
        return target

    def discard(self, relative: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.absolute(relative).unlink()

    def read_range(self, relative: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes start..end inclusive, in chunks."""
        with open(self.absolute(relative), "rb") as fh:
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = fh.read(min(CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk
