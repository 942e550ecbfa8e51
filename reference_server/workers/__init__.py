"""Background jobs of the reference server, run inside its process and tied to the app's lifespan (Quay runs
them as separate worker processes; one process keeps the reference server a single command)."""

from __future__ import annotations

from reference_server.config import ServerConfig
from reference_server.storage import Storage
from reference_server.workers.autoprune import AutoPruneWorker, PruneSettings


class BackgroundWorkers:
    """Every background job the configuration switches on; `start` at startup, `stop` at shutdown."""

    def __init__(self, config: ServerConfig, storage: Storage) -> None:
        self.autoprune: AutoPruneWorker | None = None
        if config.feature("AUTO_PRUNE"):
            self.autoprune = AutoPruneWorker(storage, PruneSettings.from_config(config))

    def start(self) -> None:
        if self.autoprune is not None:
            self.autoprune.start()

    def stop(self) -> None:
        if self.autoprune is not None:
            self.autoprune.stop()


__all__ = ["AutoPruneWorker", "BackgroundWorkers", "PruneSettings"]
