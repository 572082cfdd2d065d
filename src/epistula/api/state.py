"""The typed application state built by the lifespan (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from epistula.api.workers import WorkerPool
from epistula.auth.keys import KeyStore
from epistula.auth.throttle import AuthThrottle
from epistula.config import Settings
from epistula.errors import InternalServerError
from epistula.generation.gate import Gate
from epistula.generation.service import MessageService
from epistula.generation.thinking import ThinkingSigner
from epistula.models.catalog import Catalog
from epistula.observability.metrics import Metrics

if TYPE_CHECKING:
    from epistula.accounting import Accounting
    from epistula.batches.service import BatchService
    from epistula.files.service import FileService
    from epistula.skills.service import SkillService

S = TypeVar("S")


def available(service: S | None, api: str) -> S:
    """``service``, one that a server may run without; a 500 naming ``api`` when it does."""
    if service is None:
        raise InternalServerError(f"{api} is not available on this server")
    return service


@dataclass
class AppState:
    settings: Settings
    catalog: Catalog
    keys: KeyStore
    signer: ThinkingSigner
    messages: MessageService
    """Runs every generation (all three APIs and the batch worker share it)."""
    metrics: Metrics
    """The registry ``GET /metrics`` exposes (the middleware and the gate hook count into it)."""
    batches: BatchService | None = None
    files: FileService | None = None
    skills: SkillService | None = None
    accounting: Accounting | None = None
    auth_throttle: AuthThrottle = field(default_factory=AuthThrottle)
    """Failed authentications per client address (429 once a client's bucket is empty)."""
    workers: WorkerPool = field(default_factory=WorkerPool)
    """The process that checks big request bodies before this one decodes them (started on first use)."""

    @property
    def gate(self) -> Gate:
        """The gate every generation passes: the message service's own, never a second one."""
        return self.messages.gate
