"""Source adapters: each maps a delivery (a folder or files) onto the landing contract."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from portrait.ingest.adapters import berka, contract_folder, uci_bank_marketing
from portrait.ingest.loader import LandingFile

Discover = Callable[[Path], tuple[list[LandingFile], list[str]]]
DefaultDate = Callable[[Path], date | None]

ADAPTERS: dict[str, tuple[Discover, DefaultDate]] = {
    "synthetic": (contract_folder.discover, contract_folder.default_batch_date),
    "uci-bank-marketing": (uci_bank_marketing.discover, uci_bank_marketing.default_batch_date),
    "berka": (berka.discover, berka.default_batch_date),
}
