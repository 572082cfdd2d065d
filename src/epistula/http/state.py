"""The typed application state built by the lifespan (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from epistula.auth.keys import KeyStore
from epistula.catalog import Catalog
from epistula.config import Settings
from epistula.thinking import ThinkingSigner


@dataclass
class AppState:
    settings: Settings
    catalog: Catalog
    keys: KeyStore
    signer: ThinkingSigner
