"""Starting and stopping the durable services as one unit, for the app's lifespan: the
batch and file stores on the app's database, the blob store, the batch and file
services, and the batch worker. Keeping this out of ``http/app.py`` keeps the
composition root's edit to two lines."""

from __future__ import annotations

from dataclasses import dataclass

from epistula.config import Settings
from epistula.files.service import FileService
from epistula.generation.gate import Gate
from epistula.generation.service import MessageService
from epistula.generation.thinking import ThinkingSigner
from epistula.models.catalog import Catalog
from epistula.servertools import message_service
from epistula.skills.service import SkillService
from epistula.storage.batches import BatchStore
from epistula.storage.blobs import open_blobs
from epistula.storage.database import Database
from epistula.storage.files import FileStore
from epistula.storage.tenancy import TenancyStore

from .runner import BatchRunner
from .service import BatchService


@dataclass
class DurableServices:
    store: BatchStore
    batches: BatchService
    files: FileService
    runner: BatchRunner
    messages: MessageService
    """The one message service (live routes and the batch worker share it)."""

    async def close(self) -> None:
        """Stop the worker first (its in-flight requests go back to pending), then drop
        this process's worker locks. The database is the caller's to close."""
        try:
            await self.runner.stop()
        finally:
            self.store.close()


def _archived(tenancy: TenancyStore, workspace_id: str) -> bool:
    record = tenancy.get_workspace(workspace_id)
    return record is not None and record.archived_at is not None


async def start_durable_services(
    settings: Settings,
    catalog: Catalog,
    database: Database,
    *,
    signer: ThinkingSigner | None = None,
    gate: Gate | None = None,
    skills: SkillService | None = None,
) -> DurableServices:
    store = BatchStore(database)
    tenancy = TenancyStore(database)
    try:
        files = FileService(
            FileStore(database),
            open_blobs(settings.data_dir),
            max_bytes=settings.max_file_bytes,
            uploads_downloadable=settings.files_downloadable,
        )
        batches = BatchService(store)
        messages = message_service(settings, catalog, gate or Gate(), files=files, signer=signer, skills=skills)
        runner = BatchRunner(
            store,
            messages,
            files=files,
            concurrency=settings.batch_concurrency,
            workspace_archived=lambda workspace_id: _archived(tenancy, workspace_id),
        )
        batches.attach(runner)
        await runner.start()
    except BaseException:
        store.close()
        raise
    return DurableServices(store=store, batches=batches, files=files, runner=runner, messages=messages)
