"""Time zones of a trigger: IANA names (``Europe/Paris``) or the platform's Windows-style names
(``Pacific Standard Time``), mapped through tzlocal's table generated from Unicode CLDR."""

from __future__ import annotations

import difflib
import zoneinfo

__all__ = ["resolve_time_zone"]


def _windows_names() -> dict[str, str]:
    from modeltap.monitor.schedule.dependencies import optional_module

    table: dict[str, str] = optional_module("tzlocal.windows_tz").win_tz
    return dict(table)


def resolve_time_zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The zone named ``name`` (None: UTC). Raises ValueError naming the zone and a near one."""
    if name is None or name.strip() in ("", "UTC", "Coordinated Universal Time"):
        return zoneinfo.ZoneInfo("UTC")
    text = name.strip()
    windows = _windows_names()
    if text in windows:
        return zoneinfo.ZoneInfo(windows[text])
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    known = sorted(zoneinfo.available_timezones() | set(windows))
    close = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ValueError(
        f"{name!r} is not a time zone: {hint}use an IANA name such as 'America/Los_Angeles' or "
        "a Windows name such as 'Pacific Standard Time'"
    )
