"""Source adapters: each maps a delivery (a folder or files) onto the landing contract."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from portrait.config import Settings
from portrait.ingest.adapters import berka, contract_folder, uci_bank_marketing
from portrait.ingest.loader import LandingFile

# (delivery, settings): an adapter may read what earlier deliveries of its source loaded
Discover = Callable[[Path, Settings | None], tuple[list[LandingFile], list[str]]]
DefaultDate = Callable[[Path, Settings | None], date | None]

ADAPTERS: dict[str, tuple[Discover, DefaultDate]] = {
    "synthetic": (contract_folder.discover, contract_folder.default_batch_date),
    uci_bank_marketing.SOURCE: (uci_bank_marketing.discover, uci_bank_marketing.default_batch_date),
    "berka": (berka.discover, berka.default_batch_date),
}
