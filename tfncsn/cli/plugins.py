"""`tfncsn plugins`: every plugin of every group, who shipped it, and whether it loads.

Exits non-zero when any plugin is broken (fails to load, or its name is claimed
twice), so CI can run it as a check.
"""

from __future__ import annotations

from tfncsn import registry
from tfncsn.cli import common


def report() -> tuple[list[str], list[str]]:
    """(the table's lines, "group: name" of every broken plugin)."""
    lines, broken = [], []
    for reg in registry.ALL:
        lines.append(f"{reg.group}:")
        infos = reg.infos()
        if not infos:
            lines.append("  (none)")
        for info in infos:
            problem = reg.check(info.name)
            if problem is not None:
                broken.append(f"{reg.group}: {info.name}")
            status = "ok" if problem is None else f"BROKEN: {problem}"
            providers = reg.providers(info.name)  # Several when two claim the name.
            shipped_by = " + ".join(p.shipped_by for p in providers)
            target = " + ".join(p.target for p in providers)
            lines.append(f"  {info.name:<20} {shipped_by:<28} {target}  [{status}]")
    return lines, broken


def run() -> None:
    common.start_tensorflow()  # Loading the plugins imports it; its start-up lines stay hidden.
    lines, broken = report()
    print("\n".join(lines))
    if broken:
        raise registry.PluginError(
            f"{len(broken)} broken plugin(s) ({'; '.join(broken)}): the BROKEN rows above say "
            "why; fix or uninstall the distribution that ships each")
