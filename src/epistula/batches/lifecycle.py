"""Opening and closing the durable services as one unit, for the app's lifespan:
storage (SQLite or PostgreSQL), the blob store, the batch and file services, and the
batch worker. Keeping this out of ``http/app.py`` keeps the composition root's edit to
two lines."""

from __future__ import annotations

from dataclasses import dataclass

from epistula.config import Settings
from epistula.files.service import FileService
from epistula.generation.gate import Gate
from epistula.generation.service import MessageService
from epistula.generation.thinking import ThinkingSigner
from epistula.models.catalog import Catalog
from epistula.storage import Storage, open_blobs, open_storage

from .runner import BatchRunner
from .service import BatchService


@dataclass
class DurableServices:
    storage: Storage
    batches: BatchService
    files: FileService
    runner: BatchRunner
    messages: MessageService
    """The one message service (live routes and the batch worker share it)."""

    async def close(self) -> None:
        """Stop the worker first (its in-flight requests go back to pending), then the database."""
        try:
            await self.runner.stop()
        finally:
            self.storage.close()


def _archived(storage: Storage, workspace_id: str) -> bool:
    record = storage.get_workspace(workspace_id)
    return record is not None and record.archived_at is not None


async def start_durable_services(
    settings: Settings, catalog: Catalog, *, signer: ThinkingSigner | None = None, gate: Gate | None = None
) -> DurableServices:
    storage = open_storage(settings.database_url, settings.data_dir)
    try:
        files = FileService(
            storage,
            open_blobs(settings.data_dir),
            max_bytes=settings.max_file_bytes,
            uploads_downloadable=settings.files_downloadable,
        )
        batches = BatchService(storage)
        messages = MessageService(
            catalog, gate or Gate(), files=files, signer=signer, first_event_wait=settings.first_event_wait
        )
        runner = BatchRunner(
            storage,
            messages,
            files=files,
            concurrency=settings.batch_concurrency,
            workspace_archived=lambda workspace_id: _archived(storage, workspace_id),
        )
        batches.attach(runner)
        await runner.start()
    except BaseException:
        storage.close()
        raise
    return DurableServices(storage=storage, batches=batches, files=files, runner=runner, messages=messages)
