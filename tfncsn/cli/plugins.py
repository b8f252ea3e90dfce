"""`tfncsn plugins`: every plugin of every group and who shipped it; `--load` checks each loads.

The list comes from the installed metadata alone, so it answers at once: no plugin
module (and so no TensorFlow) is imported. A name claimed by two distributions is
broken already there. `--load` also imports every plugin and checks it against its
group's contract. The command exits non-zero when any plugin is broken, so CI can
run `tfncsn plugins --load` as a check.
"""

from __future__ import annotations

from tfncsn import registry
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("load",)


def report(load: bool) -> tuple[list[str], list[str]]:
    """(the table's lines, "group: name" of every broken plugin).

    Each row's status is "ok" when the plugin was loaded and passed its contract,
    "found" when it was not loaded (`load=False`), or "BROKEN: why".
    """
    lines, broken = [], []
    for reg in registry.ALL:
        lines.append(f"{reg.group}:")
        infos = reg.infos()
        if not infos:
            lines.append("  (none)")
        for info in infos:
            problem = reg.check(info.name) if load else reg.clash(info.name)
            if problem is not None:
                broken.append(f"{reg.group}: {info.name}")
            status = f"BROKEN: {problem}" if problem else ("ok" if load else "found")
            providers = reg.providers(info.name)  # Several when two claim the name.
            shipped_by = " + ".join(p.shipped_by for p in providers)
            target = " + ".join(p.target for p in providers)
            lines.append(f"  {info.name:<20} {shipped_by:<28} {target}  [{status}]")
    return lines, broken


def run() -> None:
    if FLAGS.load:
        common.start_tensorflow()  # Loading the plugins imports it; its start-up lines stay hidden.
    lines, broken = report(FLAGS.load)
    print("\n".join(lines))
    if not FLAGS.load:
        print("(found in the installed metadata, not imported: `tfncsn plugins --load` imports "
              "each and checks it)")
    if broken:
        raise registry.PluginError(
            f"{len(broken)} broken plugin(s) ({'; '.join(broken)}): the BROKEN rows above say "
            "why; fix or uninstall the distribution that ships each")
