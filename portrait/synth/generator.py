"""A synthetic bank worth analysing, deterministic per seed.

Everything is vectorised with numpy and written with pyarrow; events are generated and written
month by month so memory stays bounded (the customer base and its accounts stay in memory, the
transactions of one month at a time).

What is planted, so that the platform has something real to find:
- heavy-tailed wealth (log-normal), so a small share of customers makes most of the contribution;
- life stages driving product holdings, spending mix and digital engagement;
- attrition: churners drain their balances over the last months, log in less, complain more,
  their salary stops, then the relationship closes;
- loan delinquency that rises with indebtedness and falls with wealth;
- campaigns with randomised control groups whose conversion depends on product fit, prior product
  views, engagement and wealth (so response models have signal and uplift is measurable);
- marketing consent per channel, with some customers never asked; some missing optional values.
"""

from __future__ import annotations

import json
import queue
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from portrait.files import staged_folder
from portrait.ingest.contract import CONTRACT_VERSION, TABLES_BY_NAME

# contract tables the synthetic bank does not deliver: market context comes from real sources (UCI)
NOT_GENERATED = frozenset({"economic_indicators"})

DAY = np.timedelta64(1, "D")

# product_id, name, family, is_asset, customer_rate, ftp_rate, fee_rate, monthly_fee, margin_rate, term
PRODUCTS = [
    ("P01", "Everyday current account", "current_account", False, 0.001, 0.030, 0.0, 3.0, 0.029, None),
    ("P02", "Instant savings", "savings", False, 0.015, 0.032, 0.0, 0.0, 0.017, None),
    ("P03", "12-month term deposit", "term_deposit", False, 0.028, 0.035, 0.0, 0.0, 0.007, 12),
    ("P04", "Personal loan", "personal_loan", True, 0.085, 0.040, 0.0, 0.0, 0.045, 48),
    ("P05", "Home mortgage", "mortgage", True, 0.045, 0.035, 0.0, 0.0, 0.010, 300),
    ("P06", "Credit card", "credit_card", True, 0.180, 0.040, 0.0, 2.0, 0.140, None),
    ("P07", "Managed wealth fund", "wealth", False, 0.0, 0.0, 0.012, 0.0, 0.012, None),
    ("P08", "Life and home insurance", "insurance", False, 0.0, 0.0, 0.0, 15.0, 0.0, 12),
    ("P09", "Business current account", "current_account", False, 0.0, 0.030, 0.0, 20.0, 0.030, None),
    ("P10", "Business loan", "business_loan", True, 0.065, 0.040, 0.0, 0.0, 0.025, 60),
    ("P11", "Cash management", "cash_management", False, 0.0, 0.030, 0.002, 50.0, 0.032, None),
]  # fmt: skip
P = {p[0]: i for i, p in enumerate(PRODUCTS)}
CAMPAIGN_PRODUCTS = ["P02", "P06", "P03", "P07", "P04", "P08"]
CAMPAIGN_CHANNELS = ["email", "sms", "app", "phone", "email", "app"]

FIRST = np.array(["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Grace", "Hugo", "Ines", "Jan", "Karin", "Leo", "Mia", "Noah", "Olga", "Paul", "Rosa", "Sam", "Tina", "Umar", "Vera", "Wei", "Xenia", "Yusuf", "Zoe", "Li", "Mei", "Marek", "Petra", "Tomas"])  # fmt: skip
LAST = np.array(["Novak", "Svoboda", "Silva", "Costa", "Meyer", "Schmidt", "Rossi", "Bianchi", "Wang", "Zhang", "Dvorak", "Horak", "Santos", "Ferreira", "Weber", "Fischer", "Moreau", "Laurent", "Kowalski", "Nowak", "Lopez", "Garcia", "Chen", "Liu", "Kral", "Marek", "Pereira", "Muller", "Dubois", "Conti"])  # fmt: skip
CORP = np.array(["Alpha", "Beta", "Delta", "Nova", "Vertex", "Orion", "Atlas", "Polar", "Summit", "Harbor", "Cedar", "Falcon", "Granite", "Meridian", "Pioneer", "Quantum", "Silver", "Titan", "Union", "Zenith"])  # fmt: skip
CORP_SUFFIX = np.array(["Ltd", "s.r.o.", "GmbH", "SA", "Group", "Holdings", "Trading", "Logistics"])
REGIONS = np.array(["north", "south", "east", "west", "central"])
OCCUPATIONS = np.array(["employee", "self_employed", "civil_servant", "retired", "student",
                        "unemployed", "homemaker", "unknown"])  # fmt: skip
INDUSTRIES = np.array(["manufacturing", "retail_trade", "construction", "services", "technology",
                       "agriculture", "logistics", "healthcare", "other"])  # fmt: skip
CATEGORIES = np.array(["groceries", "dining", "travel", "utilities", "shopping", "cash",
                       "transfer_out", "transfer_in", "investment", "other"])  # fmt: skip
# Spend mix by life stage (young, family, mature, senior, corporate).
CATEGORY_MIX = np.array([
    [0.22, 0.18, 0.08, 0.08, 0.18, 0.06, 0.10, 0.06, 0.01, 0.03],
    [0.30, 0.10, 0.05, 0.14, 0.16, 0.05, 0.10, 0.05, 0.02, 0.03],
    [0.26, 0.10, 0.09, 0.14, 0.12, 0.05, 0.10, 0.06, 0.05, 0.03],
    [0.30, 0.07, 0.06, 0.18, 0.08, 0.12, 0.08, 0.05, 0.03, 0.03],
    [0.02, 0.02, 0.06, 0.12, 0.06, 0.02, 0.35, 0.30, 0.02, 0.03],
])  # fmt: skip
CATEGORY_MEAN = np.array([45, 30, 220, 90, 70, 120, 250, 300, 500, 40], dtype=float)
ALL_CATEGORY_NAMES = pa.array([*CATEGORIES.tolist(), "settlement", "salary", "loan_payment"])
CAT = {name: i for i, name in enumerate(ALL_CATEGORY_NAMES.to_pylist())}
TXN_CHANNEL_NAMES = pa.array(["branch", "atm", "pos", "online", "mobile", "transfer"])
CH = {name: i for i, name in enumerate(TXN_CHANNEL_NAMES.to_pylist())}
DIRECTIONS = pa.array(["debit", "credit"])
MARITAL = np.array(["single", "married", "divorced", "widowed", "unknown"])
CONSENT_P = {"email": (0.58, 0.27, 0.15), "sms": (0.5, 0.3, 0.2), "phone": (0.4, 0.35, 0.25),
             "app": (0.7, 0.25, 0.05)}  # fmt: skip


@dataclass
class GenerationResult:
    out_dir: Path
    rows: dict[str, int]
    seconds: float
    peak_memory_mb: float
    start_date: str
    end_date: str
    transactions_per_second: float = (
        0.0  # during the month-by-month loop (events of all kinds written)
    )
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "out_dir": str(self.out_dir),
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "start_date": self.start_date,
            "end_date": self.end_date,
            "transactions_per_second": round(self.transactions_per_second),
            "rows_per_second": round(sum(self.rows.values()) / max(self.seconds, 1e-9)),
            "files": self.files,
        }


def _ids(prefix: str, start: int, n: int, width: int) -> pa.Array:
    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string()), width, "0"
    )
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """datetime64[D] -> 'YYYY-MM-DD' strings (null where mask is False)."""
    arr = pa.array(days.astype("datetime64[D]"), mask=None if mask is None else ~mask)
    return pc.cast(arr, pa.string())


def _times(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds -> ISO 8601 UTC ('2025-01-31T14:05:00Z'); cast + replace is 10x strftime."""
    text = pc.cast(pa.array(seconds.astype("datetime64[s]")), pa.string())
    return pc.binary_join_element_wise(
        pc.replace_substring(text, " ", "T", max_replacements=1), pa.scalar("Z"), ""
    )


def _money(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.round(values, 2), mask=None if mask is None else ~mask)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _month_starts(start: date, months: int) -> np.ndarray:
    first = np.datetime64(start, "M")
    return (first + np.arange(months + 1)).astype("datetime64[D]")


class _Writer:
    """One CSV or Parquet file per table, written in pieces by a background thread.

    pyarrow's writers release the GIL, so writing month N overlaps generating month N+1 on the
    second core. One thread and a FIFO queue keep every file's row order (and so the output)
    identical to a sequential run; the small queue bounds memory to a couple of months.
    """

    def __init__(self, out_dir: Path, fmt: str) -> None:
        self.out_dir = out_dir
        self.fmt = fmt
        self._writers: dict[str, object] = {}
        self.rows: dict[str, int] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="synth-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue
            table, data = item
            try:
                writer = self._writers.get(table)
                if writer is None:
                    path = self.out_dir / f"{table}.{self.fmt}"
                    if self.fmt == "csv":
                        writer = pacsv.CSVWriter(
                            path,
                            data.schema,
                            write_options=pacsv.WriteOptions(quoting_style="needed"),
                        )
                    else:
                        writer = pq.ParquetWriter(path, data.schema, compression="zstd")
                    self._writers[table] = writer
                writer.write_table(data)  # type: ignore[attr-defined]
            except BaseException as err:
                self._error = err

    def write(self, table: str, columns: dict[str, pa.Array]) -> None:
        names = TABLES_BY_NAME[table].column_names
        assert set(columns) == set(names), (table, set(columns) ^ set(names))
        data = pa.table({name: pc.cast(columns[name], pa.string()) for name in names})
        self.rows[table] = self.rows.get(table, 0) + data.num_rows
        if self._error is not None:
            raise self._error
        self._queue.put((table, data))

    def close(self) -> list[str]:
        self._queue.put(None)
        self._thread.join()
        for writer in self._writers.values():
            writer.close()  # type: ignore[attr-defined]
        if self._error is not None:
            raise self._error
        return sorted(f"{t}.{self.fmt}" for t in self._writers)


class _ContactHistory:
    """Each customer's earlier campaign calls as the bank recorded them: how many, when the last
    was, and whether it converted (known at the next call if the conversion came before it)."""

    def __init__(self, n: int) -> None:
        self.count = np.zeros(n, dtype=np.int64)
        self.last_at = np.full(n, -1, dtype=np.int64)
        self.converted_at = np.full(n, -1, dtype=np.int64)

    def columns(
        self, target: np.ndarray, at: np.ndarray, control: np.ndarray, channel: str
    ) -> dict[str, pa.Array]:
        seen = self.last_at[target] >= 0
        won = seen & (self.converted_at[target] >= 0) & (self.converted_at[target] < at)
        days = np.where(seen, (at - self.last_at[target]) // 86400, 0)
        # the device of a phone call, the same for a customer every time (no random draw: the
        # rest of the bank stays as the seed made it)
        device = np.where((target * 2654435761) % 100 < 85, "mobile", "landline")
        return {
            "attempt_number": pa.array(np.ones(len(target), dtype=np.int64), mask=control),
            "days_since_previous_campaign": pa.array(days, mask=~seen),
            "previous_contacts": pa.array(self.count[target]),
            "previous_outcome": pa.array(
                np.where(won, "success", "failure").tolist(), mask=~seen, type=pa.string()
            ),
            "contact_device": pa.array(
                device.tolist(), mask=control | (channel != "phone"), type=pa.string()
            ),
        }

    def record(self, target: np.ndarray, at: np.ndarray, converted_at: np.ndarray) -> None:
        self.count[target] += 1
        self.last_at[target] = at
        self.converted_at[target] = converted_at


@dataclass(frozen=True)
class _Month:
    """What every table of one month is drawn from."""

    index: int
    start: np.datetime64
    month_end: np.datetime64
    days: int
    epoch: int  # the month's first second, in seconds since 1970
    drain: np.ndarray  # per customer: share of deposits left (churners drain)
    alive: np.ndarray  # per customer
    acc_alive: np.ndarray  # per account


class SyntheticBank:
    def __init__(self, customers: int, months: int, seed: int, start: date) -> None:
        if customers < 20:
            raise ValueError("at least 20 customers")
        if months < 1:
            raise ValueError("at least 1 month")
        self.n = customers
        self.months = months
        self.rng = np.random.default_rng(seed)
        self.month_starts = _month_starts(start, months)
        self.start = self.month_starts[0]
        self.end = self.month_starts[-1] - DAY  # last day covered

    # -- the customer base -------------------------------------------------------------------
    def customers(self) -> dict[str, pa.Array]:
        rng, n = self.rng, self.n
        self.is_corp = rng.random(n) < 0.05
        age = np.clip(rng.gamma(6.0, 7.5, n) + 18, 18, 95).astype(int)
        self.age = age
        stage = np.select([age < 30, age < 45, age < 60], [0, 1, 2], 3)
        self.stage = np.where(self.is_corp, 4, stage)
        # wealth: heavy tail; corporates larger
        self.wealth = rng.lognormal(9.0, 1.35, n) * np.where(self.is_corp, 12.0, 1.0)
        self.wealth_z = (np.log(self.wealth) - np.log(self.wealth).mean()) / np.log(
            self.wealth
        ).std()
        occ_p = np.array([0.52, 0.1, 0.1, 0.0, 0.0, 0.05, 0.04, 0.03])
        occ = rng.choice(len(OCCUPATIONS), n, p=occ_p / occ_p.sum())
        occ = np.where(age >= 63, 3, np.where((age < 24) & (rng.random(n) < 0.6), 4, occ))
        self.employed = np.isin(occ, [0, 2]) & ~self.is_corp
        income = np.where(occ == 3, 18000, np.where(occ == 4, 6000, 30000)) * rng.lognormal(
            0, 0.45, n
        )
        income *= 1 + 0.15 * np.clip(self.wealth_z, -1, 3)
        self.income = income
        self.digital = np.clip(_sigmoid(2.5 - 0.06 * (age - 18) + rng.normal(0, 1, n)), 0.02, 0.98)
        self.activity = rng.gamma(4.0, 0.25, n) * (1 + 0.3 * np.clip(self.wealth_z, -1, 2))
        # tenure and new customers during the window
        tenure_days = (rng.exponential(2200, n)).astype(int)
        newcomer = rng.random(n) < 0.08
        window_days = int((self.end - self.start) / DAY)
        onboard = np.where(
            newcomer,
            self.start + rng.integers(0, max(window_days, 1), n) * DAY,
            self.start - tenure_days * DAY,
        )
        onboard = np.maximum(onboard, self.start - 365 * 30 * DAY)
        self.onboard = onboard.astype("datetime64[D]")
        # attrition: churn month within the window, drain for the three months before
        self.churn_month = np.where(
            rng.random(n) < 0.10, rng.integers(2, self.months + 3, n), 10_000
        )
        self.churn_month = np.where(newcomer, 10_000, self.churn_month)
        closed = self.churn_month < self.months
        self.closed_day = np.where(
            closed,
            self.month_starts[np.minimum(self.churn_month, self.months)]
            - DAY * rng.integers(1, 20, n),
            np.datetime64("NaT"),
        ).astype("datetime64[D]")
        self.closed = closed
        self.n_branches = max(5, n // 2500)
        self.home_branch = rng.integers(0, self.n_branches, n)
        # consent per channel: 0 = yes, 1 = no, 2 = never asked (empty in the file)
        self.consent = {ch: rng.choice(3, n, p=p) for ch, p in CONSENT_P.items()}

        first = rng.choice(FIRST, n)
        last = rng.choice(LAST, n)
        corp_name = np.char.add(np.char.add(rng.choice(CORP, n), " "), rng.choice(CORP_SUFFIX, n))
        names = np.where(self.is_corp, corp_name, np.char.add(np.char.add(first, " "), last))
        email = np.char.lower(
            np.char.add(
                np.char.add(np.char.add(first, "."), last),
                np.char.add(np.char.mod("%d", np.arange(n)), "@example.com"),
            )
        )
        birth = (self.start - (age * 365.25 + rng.integers(0, 365, n)).astype(int) * DAY).astype(
            "datetime64[D]"
        )
        corp_birth = (self.start - rng.integers(365, 365 * 40, n) * DAY).astype("datetime64[D]")
        gender = np.where(
            self.is_corp, None, rng.choice(np.array(["F", "M", "U"]), n, p=[0.49, 0.49, 0.02])
        )
        income_missing = rng.random(n) < 0.08
        marital = np.select([age < 28, age < 70], [0, 1], 3)
        marital = np.where((marital == 1) & (rng.random(n) < 0.12), 2, marital)
        marital = np.where(rng.random(n) < 0.03, 4, marital)
        cols: dict[str, pa.Array] = {
            "customer_id": _ids("C", 1, n, 7),
            "customer_type": pa.array(np.where(self.is_corp, "corporate", "retail")),
            "full_name": pa.array(names),
            "national_id": pa.array(
                np.char.mod("%010d", rng.integers(0, 10**10, n, dtype=np.int64))
            ),
            "birth_date": _dates(np.where(self.is_corp, corp_birth, birth)),
            "gender": pa.array(gender.tolist(), type=pa.string()),
            "phone": pa.array(
                np.char.mod("+420%09d", rng.integers(0, 10**9, n)), mask=rng.random(n) < 0.05
            ),
            "email": pa.array(email, mask=rng.random(n) < 0.10),
            "postal_code": pa.array(np.char.mod("%05d", rng.integers(10000, 99999, n))),
            "occupation": pa.array(
                np.where(self.is_corp, None, OCCUPATIONS[occ]).tolist(), type=pa.string()
            ),
            "annual_income_amount": _money(income, mask=~(income_missing | self.is_corp)),
            "marital_status": pa.array(
                np.where(self.is_corp, None, MARITAL[marital]).tolist(), type=pa.string()
            ),
            "education": pa.array(
                np.where(
                    self.is_corp,
                    None,
                    rng.choice(
                        np.array(["primary", "secondary", "tertiary", "unknown"]),
                        n,
                        p=[0.15, 0.45, 0.36, 0.04],
                    ),
                ).tolist(),
                type=pa.string(),
            ),
            "industry": pa.array(
                np.where(self.is_corp, rng.choice(INDUSTRIES, n), None).tolist(), type=pa.string()
            ),
            "home_branch_id": _ids("B", 0, self.n_branches, 3).take(pa.array(self.home_branch)),
            "onboarded_date": _dates(self.onboard),
            "closed_date": _dates(self.closed_day, mask=closed),
            "kyc_risk_rating": pa.array(
                rng.choice(np.array(["low", "medium", "high"]), n, p=[0.8, 0.17, 0.03])
            ),
        }
        for ch, val in self.consent.items():
            cols[f"consent_{ch}"] = pa.array(val == 0, mask=val == 2)
        return cols

    def branches(self) -> dict[str, pa.Array]:
        k = self.n_branches
        return {
            "branch_id": _ids("B", 0, k, 3),
            "branch_name": pa.array([f"Branch {i:03d}" for i in range(k)]),
            "region": pa.array(REGIONS[np.arange(k) % len(REGIONS)]),
            "city": pa.array([f"City {i % 17:02d}" for i in range(k)]),
            "opened_date": _dates(self.start - self.rng.integers(365, 365 * 50, k) * DAY),
        }

    @staticmethod
    def products() -> dict[str, pa.Array]:
        cols = list(zip(*PRODUCTS, strict=True))
        names = [
            "product_id",
            "product_name",
            "family",
            "is_asset",
            "customer_rate",
            "ftp_rate",
            "fee_rate",
            "monthly_fee_amount",
            "margin_rate",
            "term_months",
        ]
        return {name: pa.array(list(values)) for name, values in zip(names, cols, strict=True)}

    # -- accounts ----------------------------------------------------------------------------
    def accounts(self) -> None:
        """Decide holdings; keeps arrays (customer, product, opened, balance base) in memory."""
        rng, n = self.rng, self.n
        retail = ~self.is_corp
        w = self.wealth_z
        hold = {
            "P01": retail,
            "P02": retail & (rng.random(n) < _sigmoid(-0.3 + 0.9 * w)),
            "P03": retail & (rng.random(n) < _sigmoid(-2.2 + 1.0 * w + 0.02 * (self.age - 40))),
            "P04": retail & (rng.random(n) < _sigmoid(-2.0 - 0.3 * w + 0.3 * (self.stage == 1))),
            "P05": retail
            & (
                rng.random(n)
                < np.where(self.stage == 1, 0.32, np.where(self.stage == 2, 0.22, 0.05))
            ),
            "P06": retail & (rng.random(n) < _sigmoid(-0.5 + 0.4 * w + 1.0 * self.digital - 0.8)),
            "P07": retail & (rng.random(n) < _sigmoid(-3.4 + 1.5 * w)),
            "P08": retail & (rng.random(n) < 0.14 + 0.1 * (self.stage == 1)),
            "P09": self.is_corp,
            "P10": self.is_corp & (rng.random(n) < 0.45),
            "P11": self.is_corp & (rng.random(n) < _sigmoid(-1.0 + w)),
        }
        self.holds = hold
        cust, prod = [], []
        for pid, mask in hold.items():
            idx = np.flatnonzero(mask)
            cust.append(idx)
            prod.append(np.full(idx.size, P[pid]))
        cust_a = np.concatenate(cust)
        prod_a = np.concatenate(prod)
        order = np.lexsort((prod_a, cust_a))
        self.acc_cust, self.acc_prod = cust_a[order], prod_a[order]
        m = self.acc_cust.size
        lag = rng.integers(0, 900, m)
        self.acc_open = np.maximum(
            self.onboard[self.acc_cust] + lag * DAY * (self.acc_prod != 0),
            self.onboard[self.acc_cust],
        ).astype("datetime64[D]")
        self.acc_open = np.minimum(self.acc_open, self.end).astype("datetime64[D]")
        scale = {
            0: 0.08,
            1: 0.35,
            2: 0.6,
            3: 0.9,
            4: 4.0,
            5: 0.15,
            6: 1.6,
            7: 0.0,
            8: 0.25,
            9: 2.2,
            10: 1.2,
        }
        base = (
            np.array([scale[int(p)] for p in range(len(PRODUCTS))])[self.acc_prod]
            * self.wealth[self.acc_cust]
        )
        base *= rng.lognormal(0, 0.35, m)
        self.acc_base = base
        self.acc_limit = np.where(
            self.acc_prod == P["P06"],
            np.round(np.clip(self.income[self.acc_cust] * 0.15, 500, 20000), -2),
            0.0,
        )
        self.acc_is_loan = np.isin(self.acc_prod, [P["P04"], P["P05"], P["P10"]])

    def accounts_table(self) -> dict[str, pa.Array]:
        rng = self.rng
        m = self.acc_cust.size
        self.acc_ids = _ids("A", 1, m, 8)
        closed = self.closed[self.acc_cust]
        term = np.array([p[9] or 0 for p in PRODUCTS])[self.acc_prod]
        maturity = (self.acc_open + (term * 30.44).astype(int) * DAY).astype("datetime64[D]")
        status = np.where(
            closed,
            "closed",
            np.where((rng.random(m) < 0.03) & ~self.acc_is_loan, "dormant", "active"),
        )
        self.acc_status = status
        cust_ids = _ids("C", 1, self.n, 7)
        return {
            "account_id": self.acc_ids,
            "customer_id": cust_ids.take(pa.array(self.acc_cust)),
            "product_id": pa.array([PRODUCTS[int(p)][0] for p in range(len(PRODUCTS))]).take(
                pa.array(self.acc_prod)
            ),
            "branch_id": _ids("B", 0, self.n_branches, 3).take(
                pa.array(self.home_branch[self.acc_cust])
            ),
            "currency": pa.array(np.where(rng.random(m) < 0.97, "CZK", "EUR")),
            "opened_date": _dates(self.acc_open),
            "closed_date": _dates(self.closed_day[self.acc_cust], mask=closed),
            "maturity_date": _dates(maturity, mask=term > 0),
            "status": pa.array(status),
        }

    # -- month by month ----------------------------------------------------------------------
    def _drain(self, month: int) -> np.ndarray:
        """Balance multiplier per customer: churners drain over the 3 months before leaving."""
        left = self.churn_month - month
        return np.clip(np.where(left <= 0, 0.0, np.where(left <= 3, left / 4.0, 1.0)), 0, 1)

    def month(
        self, mi: int, txn_seq: int, evt_seq: int, int_seq: int
    ) -> dict[str, dict[str, pa.Array]]:
        """One month's activity tables, each from its own step (in this order: they share the
        random stream)."""
        m = self._month_frame(mi)
        return {
            "balances": self._balances(m),
            "transactions": self._transactions(m, txn_seq),
            "digital_events": self._digital_events(m, evt_seq),
            "service_interactions": self._service_interactions(m, int_seq),
        }

    def _month_frame(self, mi: int) -> _Month:
        m0, m1 = self.month_starts[mi], self.month_starts[mi + 1]
        month_end = m1 - DAY
        drain = self._drain(mi)
        alive = (self.onboard <= month_end) & (drain > 0)
        acc_alive = alive[self.acc_cust] & (self.acc_open <= month_end)
        epoch = (m0 - np.datetime64("1970-01-01")).astype("timedelta64[s]").astype(np.int64)
        return _Month(mi, m0, month_end, int((m1 - m0) / DAY), epoch, drain, alive, acc_alive)

    def _balances(self, m: _Month) -> dict[str, pa.Array]:
        """Month-end balances: deposits grow (churners drain), loans amortise, cards revolve."""
        rng, mi, drain = self.rng, m.index, m.drain
        acc_alive, month_end = m.acc_alive, m.month_end
        idx = np.flatnonzero(acc_alive)
        cust = self.acc_cust[idx]
        growth = 1 + 0.004 * mi
        bal = self.acc_base[idx] * growth * rng.lognormal(0, 0.08, idx.size)
        loan = self.acc_is_loan[idx]
        bal = np.where(
            loan, self.acc_base[idx] * np.clip(1 - 0.015 * mi, 0.2, 1), bal * drain[cust]
        )
        card = self.acc_prod[idx] == P["P06"]
        bal = np.where(
            card,
            self.acc_limit[idx]
            * np.clip(rng.beta(2, 4, idx.size) * (1 + 0.5 * (drain[cust] < 1)), 0, 1),
            bal,
        )
        bal = np.where(self.acc_prod[idx] == P["P08"], 0.0, bal)
        return {
            "account_id": self.acc_ids.take(pa.array(idx)),
            "month_end_date": _dates(np.full(idx.size, month_end)),
            "balance_amount": _money(bal),
            "average_balance_amount": _money(bal * rng.lognormal(0, 0.05, idx.size)),
        }

    def _transactions(self, m: _Month, txn_seq: int) -> dict[str, pa.Array]:
        """Current accounts: a spending mix by life stage, salaries, and loan repayments."""
        rng, mi, drain = self.rng, m.index, m.drain
        acc_alive, days = m.acc_alive, m.days
        cur = np.flatnonzero(acc_alive & np.isin(self.acc_prod, [P["P01"], P["P09"], P["P06"]]))
        c_cust = self.acc_cust[cur]
        lam = (
            self.activity[c_cust]
            * np.where(self.acc_prod[cur] == P["P09"], 90, 38)
            * np.where(self.acc_prod[cur] == P["P06"], 0.35, 1.0)
        )
        lam *= np.where(drain[c_cust] < 1, 0.5, 1.0)
        counts = rng.poisson(lam)
        row_acc = np.repeat(cur, counts)
        k = row_acc.size
        r_cust = self.acc_cust[row_acc]
        u = rng.random(k)[:, None]
        cum = np.cumsum(CATEGORY_MIX, axis=1)[self.stage[r_cust]]
        cat = (u > cum).sum(axis=1).clip(0, len(CATEGORIES) - 1)
        amount = (
            CATEGORY_MEAN[cat] * rng.lognormal(-0.3, 0.8, k) * (self.wealth[r_cust] / 8000) ** 0.3
        )
        amount = np.where(self.is_corp[r_cust], amount * 25, amount)
        corp_row = self.is_corp[r_cust]
        # categorical columns stay integer codes until the end: numpy unicode arrays are slow
        cat = np.where(corp_row & (cat == 7), CAT["settlement"], cat)
        on_card = self.acc_prod[row_acc] == P["P06"]
        channel_p = self.digital[r_cust]
        ch_u = rng.random(k)
        shop = (cat <= 2) | (cat == 4)  # groceries, dining, travel, shopping
        channel = np.where(
            cat == CAT["cash"],
            CH["atm"],
            np.where(
                shop | on_card,
                np.where(ch_u < 0.75, CH["pos"], CH["online"]),
                np.where(
                    ch_u < channel_p,
                    CH["mobile"],
                    np.where(ch_u < channel_p + 0.25, CH["online"], CH["branch"]),
                ),
            ),
        )
        epoch = m.epoch
        secs = epoch + rng.integers(0, days * 86400, k)
        # salary inflows: employed retail, stops two months before churn
        is_cur = np.zeros(self.acc_cust.size, dtype=bool)
        is_cur[cur] = True
        sal = np.flatnonzero(
            is_cur
            & (self.acc_prod == P["P01"])
            & self.employed[self.acc_cust]
            & (self.churn_month[self.acc_cust] - mi > 2)
        )
        sal_secs = epoch + 24 * 86400 + rng.integers(0, 3 * 86400, sal.size)
        # loans: monthly repayments
        rep = np.flatnonzero(acc_alive & self.acc_is_loan)
        rep_secs = epoch + 4 * 86400 + rng.integers(0, 86400, rep.size)
        all_acc = np.concatenate([row_acc, sal, rep])
        all_amount = np.concatenate(
            [
                amount,
                self.income[self.acc_cust[sal]] / 12 * rng.lognormal(0, 0.03, sal.size),
                self.acc_base[rep] / 60,
            ]
        )
        all_secs = np.concatenate([secs, sal_secs, rep_secs])
        all_cat = np.concatenate(
            [cat, np.full(sal.size, CAT["salary"]), np.full(rep.size, CAT["loan_payment"])]
        )
        all_ch = np.concatenate([channel, np.full(sal.size + rep.size, CH["transfer"])])
        order = np.argsort(all_secs, kind="stable")
        total = order.size
        all_cat = all_cat[order]
        is_credit = np.isin(all_cat, [CAT["transfer_in"], CAT["settlement"], CAT["salary"]])
        merchant = pa.array((all_cat <= 2) | (all_cat == 4))
        merchants = pc.binary_join_element_wise(
            pa.scalar("MERCHANT "), pc.cast(pa.array(rng.integers(0, 3000, total)), pa.string()), ""
        )
        return {
            "txn_id": _ids("T", txn_seq, total, 10),
            "account_id": self.acc_ids.take(pa.array(all_acc[order])),
            "booked_at": _times(all_secs[order]),
            "amount": _money(np.maximum(all_amount[order], 0.01)),
            "direction": DIRECTIONS.take(pa.array(is_credit.astype(np.int8))),
            "channel": TXN_CHANNEL_NAMES.take(pa.array(all_ch[order])),
            "category": ALL_CATEGORY_NAMES.take(pa.array(all_cat)),
            "counterparty": pc.if_else(merchant, merchants, pa.scalar(None, pa.string())),
        }

    def _digital_events(self, m: _Month, evt_seq: int) -> dict[str, pa.Array]:
        """Logins and product views (views of products not held signal interest)."""
        rng, drain, days = self.rng, m.drain, m.days
        live = np.flatnonzero(m.alive)
        logins = rng.poisson(self.digital[live] * 14 * np.where(drain[live] < 1, 0.4, 1.0))
        views = rng.poisson(0.15 + 0.6 * self.digital[live] * self.interest[live])
        e_cust = np.concatenate([np.repeat(live, logins), np.repeat(live, views)])
        e_type = np.concatenate(
            [np.full(logins.sum(), "login"), np.full(views.sum(), "product_view")]
        )
        view_prod = np.concatenate(
            [np.full(logins.sum(), -1), np.repeat(self.interest_product[live], views)]
        )
        e_n = e_cust.size
        e_secs = m.epoch + rng.integers(0, days * 86400, e_n)
        product_ids = pa.array([p[0] for p in PRODUCTS])
        self.views_by_month.append(np.bincount(np.repeat(live, views), minlength=self.n))
        return {
            "event_id": _ids("E", evt_seq, e_n, 10),
            "customer_id": self.cust_ids.take(pa.array(e_cust)),
            "event_at": _times(e_secs),
            "channel": pa.array(np.where(rng.random(e_n) < 0.7, "app", "web")),
            "event_type": pa.array(e_type),
            "product_id": pc.if_else(
                pa.array(view_prod >= 0),
                product_ids.take(pa.array(np.maximum(view_prod, 0))),
                pa.scalar(None, pa.string()),
            ),
        }

    def _service_interactions(self, m: _Month, int_seq: int) -> dict[str, pa.Array]:
        """Service contacts: churners complain more."""
        rng, mi, days = self.rng, m.index, m.days
        live = np.flatnonzero(m.alive)
        near_churn = (self.churn_month[live] - mi <= 3).astype(float)
        s_n = rng.poisson(0.06 + 0.25 * near_churn)
        s_cust = np.repeat(live, s_n)
        sn = s_cust.size
        complaint = rng.random(sn) < 0.12 + 0.5 * (self.churn_month[s_cust] - mi <= 3)
        itype = np.where(
            complaint,
            "complaint",
            rng.choice(np.array(["inquiry", "request", "compliment"]), sn, p=[0.6, 0.35, 0.05]),
        )
        score = np.clip(np.round(rng.normal(np.where(complaint, 2.2, 4.1), 0.8)), 1, 5).astype(int)
        s_secs = m.epoch + rng.integers(0, days * 86400, sn)
        return {
            "interaction_id": _ids("S", int_seq, sn, 9),
            "customer_id": self.cust_ids.take(pa.array(s_cust)),
            "interaction_at": _times(s_secs),
            "channel": pa.array(
                rng.choice(np.array(["branch", "phone", "app", "web", "email"]), sn)
            ),
            "interaction_type": pa.array(itype),
            "satisfaction_score": pa.array(score, mask=rng.random(sn) < 0.4),
            "is_resolved": pa.array(rng.random(sn) < np.where(complaint, 0.6, 0.9)),
        }

    # -- campaigns ---------------------------------------------------------------------------
    def campaigns(self) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
        rng = self.rng
        camp_rows, contact_cols = [], []
        seq = 1
        history = _ContactHistory(self.n)  # what the bank's CRM knows of earlier campaigns' calls
        # views up to the campaign's month: the interest a customer showed before the contact
        views_before = (
            np.cumsum(self.views_by_month, axis=0) if self.views_by_month else np.zeros((1, self.n))
        )
        # a campaign every month; products recur, so later campaigns can learn from earlier ones
        for c in range(max(1, self.months - 1)):
            mi = min(c + 1, self.months - 1)
            pid = CAMPAIGN_PRODUCTS[c % len(CAMPAIGN_PRODUCTS)]
            channel = CAMPAIGN_CHANNELS[(c + c // len(CAMPAIGN_PRODUCTS)) % len(CAMPAIGN_CHANNELS)]
            start = self.month_starts[mi] + DAY * 3
            eligible = np.flatnonzero(
                ~self.is_corp & ~self.holds[pid] & (self.onboard < start) & (self.churn_month > mi)
            )
            size = min(eligible.size, max(20, int(self.n * 0.15)))
            target = rng.choice(eligible, size, replace=False)
            control = rng.random(size) < 0.2
            fit = self.fit[pid][target]
            interest = (self.interest_product[target] == P[pid]) * 0.8 + np.minimum(
                views_before[min(mi, len(views_before)) - 1][target], 5
            ) * 0.15 * (self.interest_product[target] == P[pid])
            logit = (
                -4.0
                + 2.4 * fit
                + 2.0 * interest
                + 1.0 * self.digital[target]
                + 0.35 * self.wealth_z[target]
            )
            p_treat = _sigmoid(logit + 0.9)
            p_ctrl = _sigmoid(logit - 0.4)
            converted = rng.random(size) < np.where(control, p_ctrl, p_treat)
            responded = converted | (
                rng.random(size) < np.where(control, 0.0, 0.15 + 0.2 * self.digital[target])
            )
            contacted = (start - np.datetime64("1970-01-01")).astype("timedelta64[s]").astype(
                np.int64
            ) + rng.integers(0, 10 * 86400, size)
            conv_at = contacted + rng.integers(3600, 28 * 86400, size)
            as_of = (
                (self.end + DAY - np.datetime64("1970-01-01"))
                .astype("timedelta64[s]")
                .astype(np.int64)
            )
            known = contacted + 30 * 86400 <= as_of
            converted_known = converted & (conv_at < as_of)
            cid = f"K{c + 1:03d}"
            camp_rows.append(
                (
                    cid,
                    f"{PRODUCTS[P[pid]][1]} push #{c + 1}",
                    pid,
                    channel,
                    str(start),
                    str(start + DAY * 40),
                    {"email": 0.05, "sms": 0.08, "app": 0.02, "phone": 2.5}[channel],
                    0.2,
                )
            )
            outcome_known = known | converted_known
            contact_cols.append(
                {
                    "contact_id": _ids("X", seq, size, 9),
                    "campaign_id": pa.array([cid] * size),
                    "customer_id": self.cust_ids.take(pa.array(target)),
                    "contact_group": pa.array(np.where(control, "control", "treated")),
                    "contacted_at": _times(contacted),
                    "channel": pa.array(
                        np.where(control, None, channel).tolist(), type=pa.string()
                    ),
                    "has_responded": pa.array(responded & ~control, mask=~outcome_known),
                    "has_converted": pa.array(converted_known, mask=~outcome_known),
                    "converted_at": pc.if_else(
                        pa.array(converted_known),
                        _times(np.minimum(conv_at, as_of - 1)),
                        pa.scalar(None, pa.string()),
                    ),
                    "conversion_amount": _money(
                        self.wealth[target] * 0.3 * rng.lognormal(0, 0.4, size),
                        mask=converted_known,
                    ),
                    **history.columns(target, contacted, control, channel),
                }
            )
            history.record(
                target[~control], contacted[~control], np.where(converted, conv_at, -1)[~control]
            )
            seq += size
        names = [
            "campaign_id",
            "campaign_name",
            "product_id",
            "channel",
            "start_date",
            "end_date",
            "cost_per_contact_amount",
            "control_share",
        ]
        campaigns = {
            name: pa.array([str(v) for v in values])
            for name, values in zip(names, zip(*camp_rows, strict=True), strict=True)
        }
        contacts = {
            k: pa.concat_arrays([pc.cast(c[k], pa.string()) for c in contact_cols])
            for k in contact_cols[0]
        }
        return campaigns, contacts

    def prepare_interest(self) -> None:
        """Which product a customer is drawn to (not yet held), and how well each product fits."""
        rng, n = self.rng, self.n
        w, d, age = self.wealth_z, self.digital, self.age
        self.fit = {
            "P02": _sigmoid(0.8 * w + 0.3),
            "P03": _sigmoid(0.9 * w + 0.03 * (age - 45)),
            "P04": _sigmoid(-0.5 * w + 0.8 * (self.stage == 1) - 0.2),
            "P06": _sigmoid(1.2 * d - 0.02 * (age - 35)),
            "P07": _sigmoid(1.4 * w - 1.0),
            "P08": _sigmoid(0.9 * (self.stage == 1) + 0.3 * (self.stage == 2) - 0.4),
        }
        scores = np.stack(
            [self.fit[p] * ~self.holds[p] + rng.random(n) * 0.3 for p in CAMPAIGN_PRODUCTS], axis=1
        )
        self.interest_product = np.array([P[p] for p in CAMPAIGN_PRODUCTS])[scores.argmax(axis=1)]
        self.interest = scores.max(axis=1)
        self.views_by_month: list[np.ndarray] = []

    # -- snapshots at the end ----------------------------------------------------------------
    def loans(self) -> dict[str, pa.Array]:
        rng = self.rng
        idx = np.flatnonzero(self.acc_is_loan)
        cust = self.acc_cust[idx]
        principal = np.maximum(self.acc_base[idx] * 1.25, 500.0)
        outstanding = self.acc_base[idx] * np.clip(1 - 0.015 * self.months, 0.2, 1)
        burden = outstanding / np.maximum(self.income[cust] + 0.2 * self.wealth[cust], 1000)
        pd_ = _sigmoid(
            -3.3
            + 0.9 * np.log1p(burden)
            - 0.6 * self.wealth_z[cust]
            + 1.5 * (self.churn_month[cust] < self.months + 3)
        )
        u = rng.random(idx.size)
        status = np.where(u < pd_ * 0.35, "default", np.where(u < pd_, "delinquent", "current"))
        status = np.where(self.closed[cust] & (status == "current"), "closed", status)
        dpd = np.where(
            status == "default",
            rng.integers(90, 400, idx.size),
            np.where(status == "delinquent", rng.integers(1, 89, idx.size), 0),
        )
        rate = np.array([p[4] for p in PRODUCTS])[self.acc_prod[idx]] + rng.normal(
            0, 0.005, idx.size
        ).clip(-0.01, 0.02)
        term = np.array([p[9] or 0 for p in PRODUCTS])[self.acc_prod[idx]]
        collateral = np.where(
            self.acc_prod[idx] == P["P05"],
            "property",
            np.where(self.acc_prod[idx] == P["P10"], "guarantee", "none"),
        )
        return {
            "loan_id": _ids("L", 1, idx.size, 8),
            "account_id": self.acc_ids.take(pa.array(idx)),
            "customer_id": self.cust_ids.take(pa.array(cust)),
            "principal_amount": _money(principal),
            "outstanding_amount": _money(np.where(status == "closed", 0, outstanding)),
            "interest_rate": pa.array(np.round(rate, 4)),
            "start_date": _dates(self.acc_open[idx]),
            "maturity_date": _dates(
                (self.acc_open[idx] + (term * 30.44).astype(int) * DAY).astype("datetime64[D]")
            ),
            "status": pa.array(status),
            "days_past_due": pa.array(dpd),
            "collateral_type": pa.array(collateral),
        }

    def cards(self) -> dict[str, pa.Array]:
        rng = self.rng
        credit = np.flatnonzero(self.acc_prod == P["P06"])
        debit = np.flatnonzero(
            (self.acc_prod == P["P01"]) & (rng.random(self.acc_prod.size) < 0.85)
        )
        idx = np.concatenate([credit, debit])
        kind = np.concatenate([np.full(credit.size, "credit"), np.full(debit.size, "debit")])
        cust = self.acc_cust[idx]
        tier = np.where(
            self.wealth_z[cust] > 1.5,
            "platinum",
            np.where(self.wealth_z[cust] > 0.5, "gold", "classic"),
        )
        status = np.where(
            self.closed[cust], "closed", np.where(rng.random(idx.size) < 0.02, "blocked", "active")
        )
        return {
            "card_id": _ids("K", 1, idx.size, 8),
            "account_id": self.acc_ids.take(pa.array(idx)),
            "customer_id": self.cust_ids.take(pa.array(cust)),
            "card_type": pa.array(kind),
            "card_tier": pa.array(tier),
            "credit_limit_amount": _money(self.acc_limit[idx], mask=kind == "credit"),
            "issued_date": _dates(self.acc_open[idx]),
            "status": pa.array(status),
        }

    def corporate_financials(self) -> dict[str, pa.Array]:
        rng = self.rng
        corp = np.flatnonzero(self.is_corp)
        first_year = int(str(self.start)[:4]) - 1
        last_year = int(str(self.end)[:4])
        years = np.arange(first_year, last_year + 1)
        cust = np.repeat(corp, years.size)
        year = np.tile(years, corp.size)
        size = (
            self.wealth[cust]
            * 6
            * rng.lognormal(0, 0.15, cust.size)
            * (1.04 ** (year - first_year))
        )
        assets = size * rng.uniform(0.6, 1.4, cust.size)
        return {
            "customer_id": self.cust_ids.take(pa.array(cust)),
            "fiscal_year": pa.array(year),
            "revenue_amount": _money(size),
            "total_assets_amount": _money(assets),
            "total_liabilities_amount": _money(assets * rng.beta(3, 3, cust.size)),
            "settlement_volume_amount": _money(size * rng.uniform(0.5, 1.5, cust.size)),
            "employee_count": pa.array(np.maximum(1, (size / 90000).astype(int))),
        }


def generate(
    out_dir: Path,
    *,
    customers: int = 10_000,
    months: int = 12,
    seed: int = 42,
    start_date: date = date(2025, 1, 1),
    fmt: str = "csv",
    progress: Callable[[str, int, int], None] | None = None,
) -> GenerationResult:
    """Write one landing folder: every contract table, consistent and deterministic per seed."""
    if fmt not in {"csv", "parquet"}:
        raise ValueError("format must be csv or parquet")
    began = time.perf_counter()
    with staged_folder(out_dir) as staging:  # a full disk leaves no half-written bank
        result = _write_bank(
            staging,
            customers=customers,
            months=months,
            seed=seed,
            start_date=start_date,
            fmt=fmt,
            progress=progress,
        )
    result.out_dir = out_dir
    result.seconds = time.perf_counter() - began
    return result


def _write_bank(
    out_dir: Path,
    *,
    customers: int,
    months: int,
    seed: int,
    start_date: date,
    fmt: str,
    progress: Callable[[str, int, int], None] | None,
) -> GenerationResult:
    began = time.perf_counter()
    bank = SyntheticBank(customers, months, seed, start_date)
    writer = _Writer(out_dir, fmt)
    writer.write("customers", bank.customers())
    bank.cust_ids = _ids("C", 1, bank.n, 7)
    writer.write("branches", bank.branches())
    writer.write("products", bank.products())
    bank.accounts()
    writer.write("accounts", bank.accounts_table())
    bank.prepare_interest()
    seq = {"txn": 1, "evt": 1, "int": 1}
    txn_seconds = 0.0
    for mi in range(months):
        t0 = time.perf_counter()
        parts = bank.month(mi, seq["txn"], seq["evt"], seq["int"])
        for table, cols in parts.items():
            writer.write(table, cols)
        txn_seconds += time.perf_counter() - t0
        seq["txn"] += len(parts["transactions"]["txn_id"])
        seq["evt"] += len(parts["digital_events"]["event_id"])
        seq["int"] += len(parts["service_interactions"]["interaction_id"])
        if progress:
            progress("month", mi + 1, months)
    campaigns, contacts = bank.campaigns()
    writer.write("campaigns", campaigns)
    writer.write("campaign_contacts", contacts)
    writer.write("loans", bank.loans())
    writer.write("cards", bank.cards())
    writer.write("corporate_financials", bank.corporate_financials())
    files = writer.close()
    seconds = time.perf_counter() - began
    result = GenerationResult(
        out_dir=out_dir,
        rows=dict(sorted(writer.rows.items())),
        seconds=seconds,
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        start_date=str(bank.start),
        end_date=str(bank.end),
        transactions_per_second=writer.rows.get("transactions", 0) / max(txn_seconds, 1e-9),
        files=files,
    )
    manifest = {
        "generator": "portrait.synth",
        "contract_version": CONTRACT_VERSION,
        "seed": seed,
        "customers": customers,
        "months": months,
        "format": fmt,
        "start_date": result.start_date,
        "end_date": result.end_date,
        "rows": result.rows,
    }
    (out_dir / "_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return result
