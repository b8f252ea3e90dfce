"""`tfncsn plugins`: every plugin of every group, who shipped it, and whether it loads."""

from __future__ import annotations

from tfncsn import registry


def report() -> list[str]:
    lines = []
    for reg in registry.ALL:
        lines.append(f"{reg.group}:")
        infos = reg.infos()
        if not infos:
            lines.append("  (none)")
        for info in infos:
            problem = reg.check(info.name)
            status = "ok" if problem is None else f"BROKEN: {problem}"
            lines.append(f"  {info.name:<20} {info.shipped_by:<28} {info.target}  [{status}]")
    return lines


def run() -> None:
    print("\n".join(report()))
