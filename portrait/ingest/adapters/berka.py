"""Berka (PKDD'99 Discovery Challenge "Financial"): a Czech bank, 1993-1998.

`portrait ingest FOLDER --source berka` takes the challenge's `;`-separated `.asc` files (``trans.asc``
or the shared partial ``trans_prefix.asc``) and maps them onto the landing contract (docs/sources.md):

- ``district.asc`` -> ``branches`` (one per district, region from its Czech region);
- ``client.asc`` -> ``customers``: birth date and gender decoded from ``birth_number`` (YYMMDD for
  men, YY(MM+50)DD for women), home branch = district; names are the placeholder ``Berka client <id>``;
- ``account.asc`` + ``disp.asc`` -> ``accounts`` (current accounts, owned by the OWNER disposition);
- ``loan.asc`` -> a loan account each and ``loans``: status A -> closed, B -> default (finished, not
  paid), C -> current, D -> delinquent (running, in debt); the interest rate is the one implied by the
  amount, the monthly payment and the duration; days past due are not given (empty);
- ``card.asc`` -> ``cards`` (junior -> classic tier);
- ``trans.asc`` -> ``transactions`` and, from each transaction's running balance, ``balances``
  (month end = the last balance of the month, average = the mean of the month's balances).

``order.asc`` (permanent orders) has no place in the contract yet and is only counted. Dates are
YYMMDD in the 1900s. A row whose date or amount cannot be read is quarantined (rule
``source format``) with its file line. The shared ``trans_prefix.asc`` is a prefix of the full
file: it is accepted and its coverage (dates, accounts) is reported as a warning.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from portrait.config import Settings
from portrait.errors import InputError
from portrait.ingest.adapters.frames import (
    Converted,
    landing_files,
    product_master,
    read_source_csv,
    reject_rows,
)
from portrait.ingest.loader import LandingFile
from portrait.ingest.readers import ParseReject

FILES = ("district", "client", "account", "disp", "loan", "card", "order")
TRANSACTION_FILES = ("trans.asc", "trans_prefix.asc")
REGIONS = {"prague": "central", "central bohemia": "central", "south bohemia": "south",
           "west bohemia": "west", "north bohemia": "north", "east bohemia": "east",
           "south moravia": "south", "north moravia": "north"}  # fmt: skip
LOAN_STATUS = {"A": "closed", "B": "default", "C": "current", "D": "delinquent"}
OPERATION_CHANNEL = {"VYBER KARTOU": "atm", "VKLAD": "branch", "VYBER": "branch",
                     "PREVOD Z UCTU": "transfer", "PREVOD NA UCET": "transfer"}  # fmt: skip
K_SYMBOL_CATEGORY = {"POJISTNE": "other", "SLUZBY": "fees", "UROK": "interest", "SANKC. UROK": "fees",
                     "SIPO": "utilities", "DUCHOD": "salary", "UVER": "loan_payment", "LEASING": "loan_payment"}  # fmt: skip
PRODUCTS = {  # product_id: (name, family, is_asset)
    "BERKA_CURRENT": ("Current account", "current_account", False),
    "BERKA_LOAN": ("Loan", "personal_loan", True),
}


def _folder(path: Path) -> Path:
    if not path.is_dir():
        raise InputError("not a folder", where=str(path), rule="the Berka .asc files in one folder")
    missing = [f"{name}.asc" for name in FILES if not (path / f"{name}.asc").is_file()]
    if missing:
        raise InputError(
            f"missing {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            where=str(path),
            rule="Berka files: " + ", ".join(f"{n}.asc" for n in FILES),
        )
    return path


def _yymmdd(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO dates from YYMMDD (19xx), and the mask of values that are not dates."""
    digits = text.str.strip().str[:6]
    parsed = pd.to_datetime("19" + digits, format="%Y%m%d", errors="coerce")
    return parsed.dt.strftime("%Y-%m-%d"), parsed.isna()


def _read(folder: Path, name: str, expected: list[str]) -> pd.DataFrame:
    path = folder / name
    frame, _ = read_source_csv(path, "Berka .asc: ';'-separated with a header")
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing column {missing[0]!r}",
            where=f"{path}, header",
            rule=f"{name}: " + ", ".join(expected),
        )
    return frame


@dataclass
class _Out:
    """What a conversion gathers: the contract tables with their lines, rejects, files, warnings."""

    tables: Converted = field(default_factory=dict)
    rejects: dict[str, list[ParseReject]] = field(default_factory=dict)
    source: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, table: str, converted: tuple[pd.DataFrame, np.ndarray], path: Path) -> None:
        self.tables[table] = converted
        self.source[table] = path


@dataclass(frozen=True)
class _Loans:
    """The valid loans and what the accounts table derives from them."""

    frame: pd.DataFrame
    accounts: pd.Series  # the lending account of each loan
    owner: pd.Series  # its owner's customer id
    maturity: pd.Series
    status: pd.Series


@functools.lru_cache(maxsize=2)
def _convert(folder: Path, _stamp: tuple) -> dict[str, object]:
    """The contract tables of a Berka folder (read once per folder version, cached)."""
    out = _Out()
    _branches(folder, out)
    account = _read(folder, "account.asc", ["account_id", "district_id", "frequency", "date"])
    account["opened"], bad = _yymmdd(account["date"])
    account, out.rejects["accounts"] = reject_rows(account, {"date": bad})
    disp = _read(folder, "disp.asc", ["disp_id", "client_id", "account_id", "type"])
    owners = disp[disp["type"].str.upper() == "OWNER"].drop_duplicates("account_id")
    owner_of = dict(zip(owners["account_id"], "B" + owners["client_id"], strict=True))
    _customers(folder, account, disp, out)
    loans = _loans(folder, owner_of, out)
    _accounts(folder, account, owner_of, loans, out)
    _cards(folder, disp, out)
    out.add("products", product_master(PRODUCTS), folder / "loan.asc")
    orders = _read(folder, "order.asc", ["order_id", "account_id", "amount", "k_symbol"])
    out.warnings.append(
        f"order.asc: {len(orders):,} permanent orders not loaded (no contract table for standing orders yet)"
    )
    _transactions_and_balances(folder, len(account), out)
    return {
        "tables": out.tables,
        "rejects": out.rejects,
        "warnings": out.warnings,
        "source": out.source,
        "last_date": _last_date(folder),
    }


def _branches(folder: Path, out: _Out) -> None:
    """One branch per district, in its region."""
    district = _read(folder, "district.asc", ["A1", "A2", "A3"])
    region = district["A3"].str.strip().str.lower().map(REGIONS).fillna(district["A3"])
    branches = pd.DataFrame(
        {
            "branch_id": "D" + district["A1"].str.strip(),
            "branch_name": district["A2"],
            "city": district["A2"],
            "region": region,
        }
    )
    out.add("branches", (branches, district["__line"].to_numpy()), folder / "district.asc")


def _customers(folder: Path, account: pd.DataFrame, disp: pd.DataFrame, out: _Out) -> None:
    """Clients: birth date and gender from the birth number (YYMMDD for men, YY(MM+50)DD for
    women), onboarded at the first account they may use (owner or disponent)."""
    client = _read(folder, "client.asc", ["client_id", "birth_number", "district_id"])
    digits = client["birth_number"].str.strip()
    month = pd.to_numeric(digits.str[2:4], errors="coerce")
    female = month > 50
    birth, bad = _yymmdd(
        digits.str[:2]
        + (month - 50 * female).astype("Int64").astype(str).str.zfill(2)
        + digits.str[4:6]
    )
    client["birth"], client["gender"] = birth, np.where(female, "F", "M")
    client, out.rejects["customers"] = reject_rows(client, {"birth_number": bad | month.isna()})
    first_account = (
        disp.merge(account[["account_id", "opened"]], on="account_id")
        .groupby("client_id")["opened"]
        .min()
    )
    customers = pd.DataFrame(
        {
            "customer_id": "B" + client["client_id"],
            "customer_type": "retail",
            "full_name": "Berka client " + client["client_id"],
            "birth_date": client["birth"],
            "gender": client["gender"],
            "home_branch_id": "D" + client["district_id"].str.strip(),
            "onboarded_date": client["client_id"].map(first_account).fillna(""),
        }
    )
    out.add("customers", (customers, client["__line"].to_numpy()), folder / "client.asc")


def _loans(folder: Path, owner_of: dict[str, str], out: _Out) -> _Loans:
    """Loans with their implied rate and the principal outstanding at the end of the data."""
    loan = _read(
        folder,
        "loan.asc",
        ["loan_id", "account_id", "date", "amount", "duration", "payments", "status"],
    )
    loan["start"], bad_date = _yymmdd(loan["date"])
    amount = pd.to_numeric(loan["amount"], errors="coerce")
    payment = pd.to_numeric(loan["payments"], errors="coerce")
    months = pd.to_numeric(loan["duration"], errors="coerce")
    loan, out.rejects["loans"] = reject_rows(
        loan,
        {
            "date": bad_date,
            "amount": amount.isna() | (amount <= 0),
            "payments": payment.isna() | (payment <= 0),
            "duration": months.isna() | (months <= 0),
            "status": ~loan["status"].str.strip().isin(list(LOAN_STATUS)),
        },
    )
    amount, payment, months = (
        pd.to_numeric(loan[c]).to_numpy(float) for c in ("amount", "payments", "duration")
    )
    start = pd.to_datetime(loan["start"])
    maturity = pd.Series(
        [s + pd.DateOffset(months=int(m)) for s, m in zip(start, months, strict=True)]
    )
    status = loan["status"].str.strip().map(LOAN_STATUS)
    loans = _Loans(
        loan, "L" + loan["loan_id"], loan["account_id"].map(owner_of).fillna(""), maturity, status
    )
    rate = _implied_annual_rate(amount, payment, months)
    elapsed = np.clip(
        ((pd.Timestamp(_last_date(folder)) - start).dt.days / 30.44).to_numpy(), 0, months
    )
    outstanding = np.where(
        status.isin(["closed"]).to_numpy(),
        0.0,
        _remaining_principal(amount, rate / 12, months, np.floor(elapsed)),
    )
    frame = pd.DataFrame(
        {
            "loan_id": loan["loan_id"],
            "account_id": loans.accounts,
            "customer_id": loans.owner,
            "principal_amount": loan["amount"],
            "outstanding_amount": np.round(outstanding, 2).astype(str),
            "interest_rate": np.round(rate, 6).astype(str),
            "start_date": loan["start"],
            "maturity_date": maturity.dt.strftime("%Y-%m-%d"),
            "status": status,
        }
    )
    out.add("loans", (frame, loan["__line"].to_numpy()), folder / "loan.asc")
    return loans


def _accounts(
    folder: Path, account: pd.DataFrame, owner_of: dict[str, str], loans: _Loans, out: _Out
) -> None:
    """A current account per Berka account, and a lending account per loan (a finished loan is
    closed at its maturity, unless that lies after the end of the data)."""
    branch_of = dict(
        zip(account["account_id"], "D" + account["district_id"].str.strip(), strict=True)
    )
    current = pd.DataFrame(
        {
            "account_id": account["account_id"],
            "customer_id": account["account_id"].map(owner_of).fillna(""),
            "product_id": "BERKA_CURRENT",
            "branch_id": "D" + account["district_id"].str.strip(),
            "currency": "CZK",
            "opened_date": account["opened"],
            "status": "active",
        }
    )
    finished = loans.status.isin(["closed", "default"]).to_numpy()
    maturity = loans.maturity.dt.strftime("%Y-%m-%d")
    lending = pd.DataFrame(
        {
            "account_id": loans.accounts,
            "customer_id": loans.owner,
            "product_id": "BERKA_LOAN",
            "currency": "CZK",
            "branch_id": loans.frame["account_id"].map(branch_of).fillna(""),
            "opened_date": loans.frame["start"],
            "maturity_date": maturity,
            "status": np.where(finished, "closed", "active"),
            "closed_date": np.where(
                finished, maturity.clip(upper=_last_date(folder).isoformat()), ""
            ),
        }
    )
    lines = np.concatenate([account["__line"].to_numpy(), loans.frame["__line"].to_numpy()])
    out.add(
        "accounts",
        (pd.concat([current, lending], ignore_index=True), lines),
        folder / "account.asc",
    )


def _cards(folder: Path, disp: pd.DataFrame, out: _Out) -> None:
    """Cards with their holder (through the disposition) and tier (junior cards are classic)."""
    card = _read(folder, "card.asc", ["card_id", "disp_id", "type", "issued"])
    card["issued_iso"], bad = _yymmdd(card["issued"])
    card, out.rejects["cards"] = reject_rows(card, {"issued": bad})
    holder = card.merge(
        disp[["disp_id", "client_id", "account_id"]], on="disp_id", how="left"
    ).fillna("")
    tier = {"classic": "classic", "gold": "gold", "junior": "classic"}
    cards = pd.DataFrame(
        {
            "card_id": holder["card_id"],
            "account_id": holder["account_id"],
            "customer_id": np.where(holder["client_id"] != "", "B" + holder["client_id"], ""),
            "card_type": "credit",
            "card_tier": holder["type"].str.lower().map(tier).fillna(""),
            "issued_date": holder["issued_iso"],
            "status": "active",
        }
    )
    out.add("cards", (cards, holder["__line"].to_numpy()), folder / "card.asc")


def _transactions_and_balances(folder: Path, accounts: int, out: _Out) -> None:
    trans_file = next((folder / n for n in TRANSACTION_FILES if (folder / n).is_file()), None)
    if trans_file is None:
        out.warnings.append("no trans.asc: no transactions or balances for this batch")
        return
    transactions, balances, out.rejects["transactions"], coverage = _transactions(
        trans_file, accounts
    )
    out.add("transactions", transactions, trans_file)
    out.add("balances", balances, trans_file)
    out.warnings.append(coverage)


def _transactions(path: Path, accounts: int):
    trans = _read(
        path.parent,
        path.name,
        ["trans_id", "account_id", "date", "type", "operation", "amount", "balance", "k_symbol"],
    )
    trans["day"], bad_date = _yymmdd(trans["date"])
    amount = pd.to_numeric(trans["amount"], errors="coerce")
    balance = pd.to_numeric(trans["balance"], errors="coerce")
    trans, rejects = reject_rows(
        trans,
        {
            "date": bad_date,
            "amount": amount.isna() | (amount < 0),
            "balance": balance.isna(),
            "type": ~trans["type"].str.strip().isin(["PRIJEM", "VYDAJ", "VYBER"]),
        },
    )
    credit = trans["type"].str.strip() == "PRIJEM"
    operation = trans["operation"].str.strip()
    k_symbol = trans["k_symbol"].str.strip()
    fallback = np.where(
        credit,
        "transfer_in",
        np.where(operation.isin(["VYBER", "VYBER KARTOU"]), "cash", "transfer_out"),
    )
    category = k_symbol.map(K_SYMBOL_CATEGORY).fillna(pd.Series(fallback, index=trans.index))
    bank = trans["bank"].str.strip() if "bank" in trans else pd.Series("", index=trans.index)
    other = trans["account"].str.strip() if "account" in trans else pd.Series("", index=trans.index)
    counterparty = np.where(bank != "", bank + "/" + other, "")
    transactions = pd.DataFrame(
        {
            "txn_id": trans["trans_id"],
            "account_id": trans["account_id"],
            "booked_at": trans["day"] + "T00:00:00Z",
            "amount": trans["amount"],
            "direction": np.where(credit, "credit", "debit"),
            # bookings without an operation (interest, fees) are the bank's own: shown as transfers
            "channel": operation.map(OPERATION_CHANNEL).fillna("transfer"),
            "category": category,
            "counterparty": counterparty,
        }
    )
    # balances: the running balance after the month's last transaction, and the month's mean
    trans["balance_value"] = pd.to_numeric(trans["balance"])
    trans["month_end"] = (pd.to_datetime(trans["day"]) + pd.offsets.MonthEnd(0)).dt.strftime(
        "%Y-%m-%d"
    )
    ordered = trans.sort_values(["account_id", "day", "__line"])
    grouped = ordered.groupby(["account_id", "month_end"], sort=False)
    months = grouped.agg(
        balance=("balance_value", "last"),
        average=("balance_value", "mean"),
        line=("__line", "last"),
    ).reset_index()
    balances = pd.DataFrame(
        {
            "account_id": months["account_id"],
            "month_end_date": months["month_end"],
            "balance_amount": months["balance"].round(2).astype(str),
            "average_balance_amount": months["average"].round(2).astype(str),
        }
    )
    first, last = trans["day"].min(), trans["day"].max()
    coverage = (
        f"{path.name}: {len(trans):,} transactions from {first} to {last} for {trans['account_id'].nunique():,} of "
        f"{accounts:,} accounts"
        + (
            " (a prefix of trans.asc: the last day may be incomplete)"
            if "prefix" in path.name
            else ""
        )
    )
    return (
        (transactions, trans["__line"].to_numpy()),
        (balances, months["line"].to_numpy()),
        rejects,
        coverage,
    )


def _implied_annual_rate(
    principal: np.ndarray, payment: np.ndarray, months: np.ndarray
) -> np.ndarray:
    """The annual rate of an annuity with this principal, monthly payment and term (bisection);
    0 when the payments do not even repay the principal."""
    low, high = np.zeros_like(principal), np.full_like(principal, 1.0)  # monthly rate bounds
    for _ in range(60):
        mid = (low + high) / 2
        annuity = np.where(
            mid > 0, principal * mid / (1 - (1 + mid) ** -months), principal / months
        )
        too_high = annuity > payment
        high, low = np.where(too_high, mid, high), np.where(too_high, low, mid)
    rate = np.where(payment * months <= principal, 0.0, (low + high) / 2 * 12)
    return np.clip(rate, 0, 1)


def _remaining_principal(principal, monthly_rate, months, paid):
    """Outstanding principal of an annuity after ``paid`` monthly payments."""
    r = np.where(monthly_rate > 0, monthly_rate, 1.0)  # 1.0: placeholder where the rate is 0
    growth_n, growth_k = (1 + r) ** months, (1 + r) ** paid
    remaining = np.where(
        monthly_rate > 0,
        principal * (growth_n - growth_k) / (growth_n - 1),
        principal * (months - paid) / months,
    )
    return np.clip(remaining, 0, principal)


@functools.lru_cache(maxsize=2)
def _last_date_cached(folder: Path, _stamp: tuple) -> date:
    latest = date(1993, 1, 1)
    for name, column in (("account.asc", "date"), ("loan.asc", "date"), ("card.asc", "issued")):
        frame = pd.read_csv(
            folder / name, sep=";", dtype=str, keep_default_na=False, usecols=[column]
        )
        iso, bad = _yymmdd(frame[column])
        if (~bad).any():
            latest = max(latest, date.fromisoformat(iso[~bad].max()))
    trans = next((folder / n for n in TRANSACTION_FILES if (folder / n).is_file()), None)
    if trans is not None:
        frame = pd.read_csv(trans, sep=";", dtype=str, keep_default_na=False, usecols=["date"])
        iso, bad = _yymmdd(frame["date"])
        if (~bad).any():
            latest = max(latest, date.fromisoformat(iso[~bad].max()))
    return latest


def _stamp(folder: Path) -> tuple:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.asc"))
    )


def _last_date(folder: Path) -> date:
    return _last_date_cached(folder, _stamp(folder))


def _conversion(path: Path) -> dict[str, object]:
    folder = _folder(path).resolve()
    return _convert(folder, _stamp(folder))


def discover(path: Path, settings: Settings | None = None) -> tuple[list[LandingFile], list[str]]:
    conversion = _conversion(path)
    return landing_files(conversion["tables"], conversion["source"], conversion["rejects"]), list(
        conversion["warnings"]
    )


def default_batch_date(path: Path, settings: Settings | None = None) -> date | None:
    """The day after the latest date in the files."""
    try:
        return _last_date(_folder(path).resolve()) + timedelta(days=1)
    except InputError:
        return None
