"""Money in dashboards: integer minor units of one ISO 4217 currency, never a float.

Sales are recorded as amounts in the platform's currency (``AnalyticsSettings.currency``);
dashboards sum each sale rounded to the currency's minor unit, so totals add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# ISO 4217 currencies whose minor unit is not the cent (every other one has 2 digits).
_MINOR_DIGITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


@dataclass(frozen=True)
class Currency:
    code: str

    @property
    def minor_per_unit(self) -> int:
        """How many minor units make one unit (100 for USD, 1 for JPY)."""
        return int(10 ** _MINOR_DIGITS.get(self.code, 2))

    def money(self, amount_minor: int) -> dict[str, Any]:
        """The JSON-ready ``Money`` of the proto: ``{"currency", "amountMinor"}``."""
        return {"currency": self.code, "amountMinor": int(amount_minor)}
