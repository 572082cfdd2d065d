"""Code-execution containers: one directory per ``container`` id, reusable until it expires.

A container is ``<data_dir>/containers/<id>/`` with ``meta.json`` (its workspace and
expiry), ``workspace/`` (the sandbox's writable working directory, kept between
requests) and ``uploads/`` (Files API files put there by ``container_upload`` blocks,
mounted read-only). Containers belong to the workspace that created them: another
workspace's id is unknown, exactly like an id that never existed. Expired containers are
removed the next time the registry is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from epistula import ids
from epistula.errors import InvalidRequestError
from epistula.protocol.servertools import Container as ContainerInfo
from epistula.storage.common import rfc3339

_ID = re.compile(r"^container_[A-Za-z0-9]{1,64}$")


@dataclass(frozen=True, slots=True)
class Container:
    id: str
    workspace_id: str
    root: Path
    expires_at: float

    @property
    def workdir(self) -> Path:
        return self.root / "workspace"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def skills(self) -> Path:
        return self.root / "skills"

    def info(self) -> ContainerInfo:
        return ContainerInfo(id=self.id, expires_at=rfc3339(self.expires_at))


class ContainerRegistry:
    def __init__(
        self, base: Path, *, ttl: float, owner_uid: int | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._base = base
        self._ttl = ttl
        self._owner = owner_uid
        """Who owns a container's working directory (the sandbox's uid)."""
        self._clock = clock

    def open(self, workspace_id: str, container_id: str | None) -> Container:
        """The named container (400 if it is unknown, expired or another workspace's), or a new one."""
        self.purge_expired()
        if container_id is None:
            return self._create(workspace_id)
        found = self._load(container_id) if _ID.match(container_id) else None
        if found is None or found.workspace_id != workspace_id:
            raise InvalidRequestError(f"container: container `{container_id}` was not found or has expired")
        return found

    def _create(self, workspace_id: str) -> Container:
        container_id = ids.container_id()
        container = Container(container_id, workspace_id, self._base / container_id, self._clock() + self._ttl)
        container.uploads.mkdir(parents=True, mode=0o755)
        container.workdir.mkdir(mode=0o755)
        if self._owner is not None and os.geteuid() == 0:
            os.chown(container.workdir, self._owner, self._owner)
        meta = {"workspace_id": workspace_id, "expires_at": container.expires_at}
        (container.root / "meta.json").write_text(json.dumps(meta))
        return container

    def _load(self, container_id: str) -> Container | None:
        root = self._base / container_id
        try:
            meta = json.loads((root / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        if float(meta["expires_at"]) <= self._clock():
            return None
        return Container(container_id, str(meta["workspace_id"]), root, float(meta["expires_at"]))

    def purge_expired(self) -> int:
        """Remove expired containers' directories; how many went."""
        if not self._base.is_dir():
            return 0
        purged = 0
        for root in self._base.iterdir():
            if _ID.match(root.name) and self._load(root.name) is None:
                with contextlib.suppress(OSError):
                    shutil.rmtree(root)
                    purged += 1
        return purged
