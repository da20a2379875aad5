"""UCI Bank Marketing (Moro, Cortez & Rita): telemarketing contacts of a Portuguese bank, 2008-2010.

`portrait ingest PATH --source uci-bank-marketing` takes ``bank-additional-full.csv`` (21 columns,
with five macro-economic indicators), ``bank-full.csv`` (17 columns, with balance and day of month),
their 10 % samples, or a folder holding one of them. Each row is one phone contact of a term-deposit
campaign and its outcome ``y``; the adapter maps it onto the landing contract (docs/sources.md):

- ``customers``: one per row, or per ``client_id`` when the file has that column; attributes as
  delivered (job, marital status, education); the birth date is approximated from the age at the
  contact. The source has no names, so ``full_name`` is the placeholder ``UCI client <id>``.
- ``products``: the term deposit offered, and the housing and personal loans the file says a
  client holds (``accounts``). The source carries no rates: they are 0 and documented as unknown.
- ``campaigns``: one per calendar month of contacts; ``campaign_contacts``: one per row, outcome
  ``y`` (empty: not known yet, scored but never used as a label).
- ``economic_indicators``: the macro columns, one value per indicator and contact date.
- ``balances``: ``bank-full``'s yearly average balance, as the balance of a current account at
  the end of the contact's month.

The file has no year: rows are in time order from May 2008, so the year starts at 2008 and
advances whenever the month goes back (``dec`` -> ``mar``). A later delivery continues the
contacts already loaded from this source (other files than this one): its year follows the
latest loaded contact (the next year when its first month is earlier), its days follow that
contact within the same month, and its generated ids follow the last loaded line, so a file
split into deliveries gets the dates and ids of the whole file. ``bank-full`` gives the day of the
month; ``bank-additional`` only the weekday, so the day is the next day with that weekday after
the previous contact of the month (the first such weekday for the month's first contact). ``duration`` is never loaded:
it is only known after the call and would leak the outcome into any model.

A row whose month, age or outcome cannot be read is quarantined (rule ``source format``) with its
line, and none of the tables gets anything from it.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from portrait.config import Settings
from portrait.errors import InputError
from portrait.ingest.adapters.frames import (
    landing_files,
    product_master,
    read_source_csv,
    reject_rows,
)
from portrait.ingest.loader import LandingFile

FILES = ("bank-additional-full.csv", "bank-full.csv", "bank-additional.csv", "bank.csv")
SOURCE = "uci-bank-marketing"  # the --source name of this adapter
FIRST_YEAR = 2008  # the public files start in May 2008 (Moro et al. 2014)
MAX_YEARS = 10  # a file spanning more years than this is not in contact order
COMMON = ["age", "job", "marital", "education", "default", "housing", "loan", "contact", "month",
          "duration", "campaign", "pdays", "previous", "poutcome", "y"]  # fmt: skip
ADDITIONAL = [
    "day_of_week",
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
]
FULL = ["balance", "day"]
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
# name, unit, publisher of each macro column (bank-additional-names.txt)
INDICATORS = {
    "emp.var.rate": ("employment_variation_rate", "percent, quarterly", "INE Portugal"),
    "cons.price.idx": ("consumer_price_index", "index, monthly", "INE Portugal"),
    "cons.conf.idx": ("consumer_confidence_index", "index, monthly", "INE Portugal"),
    "euribor3m": ("euribor_3m_rate", "percent, daily", "Banco de Portugal"),
    "nr.employed": ("employees_count", "thousands, quarterly", "INE Portugal"),
}
OCCUPATION = {"admin.": "employee", "blue-collar": "employee", "entrepreneur": "self_employed",
              "housemaid": "employee", "management": "employee", "retired": "retired",
              "self-employed": "self_employed", "services": "employee", "student": "student",
              "technician": "employee", "unemployed": "unemployed", "unknown": "unknown"}  # fmt: skip
EDUCATION = {"basic.4y": "primary", "basic.6y": "primary", "basic.9y": "primary", "illiterate": "primary",
             "high.school": "secondary", "professional.course": "secondary",
             "university.degree": "tertiary", "primary": "primary", "secondary": "secondary",
             "tertiary": "tertiary", "unknown": "unknown"}  # fmt: skip
PRODUCTS = {  # product_id: (name, family, is_asset)
    "UCI_TERM_DEPOSIT": ("Term deposit (telemarketing offer)", "term_deposit", False),
    "UCI_HOUSING_LOAN": ("Housing loan", "mortgage", True),
    "UCI_PERSONAL_LOAN": ("Personal loan", "personal_loan", True),
    "UCI_CURRENT_ACCOUNT": ("Current account", "current_account", False),
}


def locate(path: Path) -> Path:
    """The file itself, or the most complete UCI file in a folder."""
    if path.is_file():
        return path
    if path.is_dir():
        for name in FILES:
            if (path / name).is_file():
                return path / name
        raise InputError(
            "no UCI Bank Marketing file in the folder",
            where=str(path),
            rule="one of " + ", ".join(FILES),
        )
    raise InputError(
        "path does not exist", where=str(path), rule="a UCI file or a folder holding one"
    )


@dataclass(frozen=True)
class History:
    """What earlier deliveries of this source loaded: the latest contact's date and the last line
    of the file it came from (a file's generated ids are its line numbers)."""

    last_contact: date | None = None
    last_line: int = 1  # the header

    def first_year(self, first_month: int) -> int:
        if self.last_contact is None:
            return FIRST_YEAR
        return self.last_contact.year + (first_month < self.last_contact.month)


def history(path: Path, settings: Settings | None) -> History:
    """The contacts loaded by earlier deliveries of this source still in raw, leaving out any
    batch loaded from this very file (a re-delivery replaces it, not continues it)."""
    if settings is None:
        return History()
    from portrait import warehouse
    from portrait.ingest.batches import CURRENT

    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        if conn.execute("select to_regclass('dq.ingest_batches')").fetchone()[0] is None:
            return History()
        row = conn.execute(
            "select max(k.contacted_at)::date, max(k.line_number) from raw.campaign_contacts k where k.batch_id in ("
            f"select c.batch_id from ({CURRENT}) c where c.status = 'loaded' and c.source = %s and not exists ("
            "select 1 from jsonb_array_elements(c.files) f where f ->> 'sha256' = %s))",
            (SOURCE, _digest(locate(path))),
        ).fetchone()
    return History(row[0], int(row[1])) if row and row[0] else History()


@dataclass(frozen=True)
class _Contacts:
    """The valid rows of one file, dated and identified: what every contract table is cut from."""

    kind: str  # "additional" (bank-additional) or "full" (bank-full)
    rows: pd.DataFrame
    when: pd.Series  # the contact's day
    iso: pd.Series  # the same, as text
    lines: np.ndarray  # line numbers, continuing an earlier delivery: the generated ids
    ids: pd.Series  # the client's id
    first: np.ndarray  # the client's first contact in the file


@functools.lru_cache(maxsize=4)
def _convert(path: Path, _stamp: tuple[int, int], past: History = History()) -> dict[str, object]:
    """The contract tables of one UCI file (read once per file version, cached)."""
    raw, kind, unknown = _read(path)
    rows, rejects = reject_rows(raw, _bad_rows(raw, kind))
    contacts = _identified(path, rows, kind, past)
    tables: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for build in (_customers, _accounts, _balances, _campaigns, _campaign_contacts, _indicators):
        tables |= build(contacts)
    tables["products"] = product_master(
        {p: v for p, v in PRODUCTS.items() if kind == "full" or p != "UCI_CURRENT_ACCOUNT"}
    )
    when = contacts.when
    return {
        "kind": kind,
        "tables": tables,
        "rejects": rejects,
        "unknown": unknown,
        "last_date": when.max().date() if len(when) else None,
        "rows": len(raw),
    }


def _read(path: Path) -> tuple[pd.DataFrame, str, list[str]]:
    """The file's rows, its layout, and the columns it has beyond that layout."""
    raw, _ = read_source_csv(path, "semicolon-separated CSV with a header")
    columns = list(raw.columns)
    kind = "additional" if "day_of_week" in columns else "full"
    expected = COMMON + (ADDITIONAL if kind == "additional" else FULL)
    missing = [c for c in expected if c not in columns]
    if missing:
        raise InputError(
            f"missing column {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            where=f"{path}, header",
            rule="bank-additional (21 columns) or bank-full (17 columns)",
        )
    return raw, kind, [c for c in columns if c not in expected and c != "client_id"]


def _bad_rows(raw: pd.DataFrame, kind: str) -> dict[str, pd.Series]:
    """Per column, the rows whose value cannot be read (quarantined under `source format`)."""
    age = pd.to_numeric(raw["age"], errors="coerce")
    bad = {
        "month": raw["month"].str.lower().map(MONTHS).isna(),
        "age": age.isna() | (age < 16) | (age > 110),
        "y": ~raw["y"].str.lower().isin(["yes", "no", ""]),
    }
    if kind == "additional":
        bad["day_of_week"] = ~raw["day_of_week"].str.lower().isin(list(WEEKDAYS))
    else:
        day = pd.to_numeric(raw["day"], errors="coerce")
        bad["day"] = day.isna() | (day < 1) | (day > 31)
    return bad


def _identified(path: Path, rows: pd.DataFrame, kind: str, past: History) -> _Contacts:
    """The rows dated (the year starts in FIRST_YEAR, or after the contacts already loaded, and
    advances whenever the month goes back) and identified (ids continue an earlier delivery)."""
    month = rows["month"].str.lower().map(MONTHS).to_numpy(int)
    first_year = past.first_year(int(month[0])) if len(month) else FIRST_YEAR
    year = first_year + np.concatenate([[0], np.cumsum(np.diff(month) < 0)])
    if len(year) and year[-1] > first_year + MAX_YEARS:
        raise InputError(
            f"the months go back {year[-1] - first_year} times: the rows are not in time order",
            where=str(path),
            rule="a file in contact order (bank-full.csv, bank-additional-full.csv); "
            "bank.csv and bank-additional.csv are random samples",
        )
    if kind == "full":
        day = pd.to_numeric(rows["day"]).astype(int).to_numpy()
        last = np.array([calendar.monthrange(y, m)[1] for y, m in zip(year, month, strict=True)])
        day = np.minimum(day, last)
    else:
        weekday = rows["day_of_week"].str.lower().map(WEEKDAYS).to_numpy()
        day = _days_from_weekdays(year, month, weekday, past.last_contact)
    when = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
    lines = rows["__line"].to_numpy() + (past.last_line - 1)
    generated = pd.Series([f"UCI{n:06d}" for n in lines])
    ids = rows["client_id"].str.strip() if "client_id" in rows else generated
    if (ids == "").any():
        ids = ids.where(ids != "", generated)
    return _Contacts(
        kind, rows, when, when.dt.strftime("%Y-%m-%d"), lines, ids, (~ids.duplicated()).to_numpy()
    )


def _customers(c: _Contacts) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """One customer per client; a client seen again keeps the attributes of the first contact,
    onboarded at the first contact."""
    rows = c.rows
    age = pd.to_numeric(rows["age"]).to_numpy(int)
    marital = rows["marital"].str.lower()
    customers = pd.DataFrame(
        {
            "customer_id": c.ids,
            "customer_type": "retail",
            "full_name": "UCI client " + c.ids,
            "birth_date": (c.when - pd.to_timedelta(age * 365.25, unit="D")).dt.strftime(
                "%Y-%m-%d"
            ),
            "occupation": rows["job"].str.lower().map(OCCUPATION).fillna("unknown"),
            "marital_status": marital.where(
                marital.isin(["single", "married", "divorced", "widowed"]), "unknown"
            ),
            "education": rows["education"].str.lower().map(EDUCATION).fillna("unknown"),
            "onboarded_date": c.iso,
        }
    )
    return {"customers": (customers[c.first], c.lines[c.first])}


def _account(c: _Contacts, mask: np.ndarray, product: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": c.ids[mask] + "-" + product.removeprefix("UCI_"),
            "customer_id": c.ids[mask],
            "product_id": product,
            "currency": "EUR",
            "opened_date": c.iso[mask],
            "status": "active",
        }
    )


def _accounts(c: _Contacts) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """The loans a client holds on the day of the first call; bank-full adds a current account."""
    held = []
    for flag, product in (("housing", "UCI_HOUSING_LOAN"), ("loan", "UCI_PERSONAL_LOAN")):
        mask = (c.rows[flag].str.lower() == "yes").to_numpy() & c.first
        held.append((_account(c, mask, product), c.lines[mask]))
    if c.kind == "full":
        held.append((_account(c, c.first, "UCI_CURRENT_ACCOUNT"), c.lines[c.first]))
    frames = pd.concat([f for f, _ in held], ignore_index=True)
    return {"accounts": (frames, np.concatenate([n for _, n in held]))}


def _balances(c: _Contacts) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """bank-full's yearly average balance, as the current account's balance at the month's end."""
    if c.kind != "full":
        return {}
    mask = c.first
    month_end = (c.when + pd.offsets.MonthEnd(0)).dt.strftime("%Y-%m-%d")
    balances = pd.DataFrame(
        {
            "account_id": (c.ids[mask] + "-CURRENT_ACCOUNT").to_numpy(),
            "month_end_date": month_end[mask].to_numpy(),
            "balance_amount": c.rows["balance"][mask].to_numpy(),
            "average_balance_amount": c.rows["balance"][mask].to_numpy(),
        }
    )
    return {"balances": (balances, c.lines[mask])}


def _campaign_ids(c: _Contacts) -> pd.Series:
    return "UCI-" + c.when.dt.strftime("%Y-%m")


def _campaigns(c: _Contacts) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """One campaign per calendar month of contacts, spanning its first to last contact."""
    grouped = pd.DataFrame(
        {"campaign_id": _campaign_ids(c), "when": c.when, "line": c.lines}
    ).groupby("campaign_id")
    spans = grouped.agg(
        start=("when", "min"), end=("when", "max"), line=("line", "min")
    ).reset_index()
    campaigns = pd.DataFrame(
        {
            "campaign_id": spans["campaign_id"],
            "campaign_name": "Term deposit telemarketing " + spans["campaign_id"].str[4:],
            "product_id": "UCI_TERM_DEPOSIT",
            "channel": "phone",
            "start_date": spans["start"].dt.strftime("%Y-%m-%d"),
            "end_date": spans["end"].dt.strftime("%Y-%m-%d"),
            "control_share": "0",
        }
    )
    return {"campaigns": (campaigns, spans["line"].to_numpy())}


def _campaign_contacts(c: _Contacts) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """One treated contact per row; an empty `y` is an outcome not known yet."""
    y = c.rows["y"].str.lower()
    contacted = c.iso + "T12:00:00Z"
    contacts = pd.DataFrame(
        {
            "contact_id": [f"UCI-C{n:06d}" for n in c.lines],
            "campaign_id": _campaign_ids(c),
            "customer_id": c.ids,
            "contact_group": "treated",
            "contacted_at": contacted,
            "channel": "phone",
            "has_converted": y.map({"yes": "true", "no": "false"}).fillna(""),
            "converted_at": contacted.where(y == "yes", ""),
            **_contact_history(c.rows),
        }
    )
    return {"campaign_contacts": (contacts, c.lines)}


def _indicators(c: _Contacts) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """bank-additional's market indicators, one value per indicator and day."""
    if c.kind != "additional":
        return {}
    parts = []
    for column, (name, unit, publisher) in INDICATORS.items():
        frame = pd.DataFrame(
            {
                "indicator_date": c.iso,
                "indicator": name,
                "value": c.rows[column],
                "unit": unit,
                "source": publisher,
                "line": c.lines,
            }
        )
        parts.append(frame.drop_duplicates(["indicator_date", "indicator"]))
    indicators = pd.concat(parts, ignore_index=True)
    return {"economic_indicators": (indicators.drop(columns="line"), indicators["line"].to_numpy())}


def _contact_history(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """The contact history the bank recorded at each call: `campaign` (calls in this campaign,
    this one included), `pdays` (days since the previous campaign's call; 999: none), `previous`,
    `poutcome` and the device (`contact`), all known before the call."""
    pdays = pd.to_numeric(rows["pdays"], errors="coerce")
    return {
        "attempt_number": rows["campaign"].str.strip(),
        "days_since_previous_campaign": pdays.where(pdays.between(0, 998))
        .astype("Int64")
        .astype("string")
        .fillna(""),
        "previous_contacts": rows["previous"].str.strip(),
        "previous_outcome": rows["poutcome"]
        .str.lower()
        .map({"success": "success", "failure": "failure", "other": "other"})
        .fillna(""),
        "contact_device": rows["contact"]
        .str.lower()
        .map({"cellular": "mobile", "telephone": "landline"})
        .fillna(""),
    }


def _days_from_weekdays(
    year: np.ndarray, month: np.ndarray, weekday: np.ndarray, after: date | None = None
) -> np.ndarray:
    """Day of month from the weekday sequence: the first row of a month falls on the first such
    weekday (on or after ``after``, an earlier delivery's last contact, in its month); each next
    row on the next day with its weekday (the same day if it is unchanged), so dates never go back
    within a month. A date past the month's end stays on its last such day."""
    days = np.empty(len(month), dtype=np.int64)
    current = after
    for i in range(len(month)):  # 41k rows: a plain loop is clearer than the vectorised form
        first = date(int(year[i]), int(month[i]), 1)
        if (
            current is None
            or (current.year, current.month) != (first.year, first.month)
            or current < first
        ):
            current = first
        target = current + timedelta(days=(int(weekday[i]) - current.weekday()) % 7)
        while target.month != first.month:
            target -= timedelta(days=7)
        current = target
        days[i] = target.day
    return days


def _digest(file: Path) -> str:
    """sha256 of the file, once per version of it (the batch date and the load both ask)."""
    stat = file.stat()
    return _digest_of(file.resolve(), (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _digest_of(file: Path, _stamp: tuple[int, int]) -> str:
    from portrait.ingest.readers import sha256_of

    return sha256_of(file)


def _conversion(path: Path, past: History = History()) -> dict[str, object]:
    file = locate(path)
    stat = file.stat()
    return _convert(file.resolve(), (stat.st_mtime_ns, stat.st_size), past)


def discover(path: Path, settings: Settings | None = None) -> tuple[list[LandingFile], list[str]]:
    """The contract tables derived from one UCI file (read once, kept for the load), continuing
    what earlier deliveries of the source loaded."""
    conversion = _conversion(path, history(path, settings))
    file = locate(path)
    warnings = [
        f"{file.name}: column {c!r} is not part of the UCI layout, ignored"
        for c in conversion["unknown"]
    ]
    warnings.append(
        f"{file.name}: `duration` not loaded (known only after the call; it would leak the outcome)"
    )
    tables = conversion["tables"]
    files = landing_files(
        tables, dict.fromkeys(tables, file), {"campaign_contacts": conversion["rejects"]}
    )
    return files, warnings


def default_batch_date(path: Path, settings: Settings | None = None) -> date | None:
    """The day after the last contact: every contact of the file is then in the past."""
    try:
        last = _conversion(path, history(path, settings))["last_date"]
    except InputError:
        return None
    return last + timedelta(days=1) if last else None


def open_latest(path: Path, folder: Path, share: float) -> tuple[Path, dict[str, int]]:
    """A copy of the file in ``folder`` whose latest ``share`` of contacts have an empty ``y``
    (outcome not known yet: prospects), and those contacts' true outcomes by contact id."""
    import csv

    file = locate(path)
    with file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    outcome = rows[0].index("y")
    first_open = 1 + int((len(rows) - 1) * (1 - share))  # rows are in time order
    truth = {}
    for line, row in enumerate(rows[first_open:], start=first_open + 1):
        truth[f"UCI-C{line:06d}"] = int(row[outcome].lower() == "yes")
        row[outcome] = ""
    folder.mkdir(parents=True, exist_ok=True)
    delivery = folder / file.name
    with delivery.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";").writerows(rows)
    return delivery, truth
