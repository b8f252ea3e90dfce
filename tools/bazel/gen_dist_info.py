"""Writes the `<name>-<version>.dist-info` folder that `pip install` would create.

Under Bazel nothing is installed, so `importlib.metadata.entry_points(group=...)`
would not see the plugins declared in pyproject.toml. This script writes only
what importlib.metadata reads: METADATA (Name, Version) and entry_points.txt.

Usage: gen_dist_info.py PYPROJECT VERSION_FILE OUT_DIR
  VERSION_FILE is read for `__version__ = "..."` when pyproject.toml declares
  the version as dynamic.
"""

import pathlib
import re
import sys
import tomllib


def read_version(project, version_file):
    if "version" in project:
        return project["version"]
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""",
                      version_file.read_text(encoding="utf-8"), re.MULTILINE)
    if not match:
        sys.exit(f"gen_dist_info: no __version__ in {version_file}")
    return match.group(1)


def entry_point_groups(project):
    """Yields (group, {name: "module:attr"}) the way setuptools writes them."""
    if project.get("scripts"):
        yield "console_scripts", project["scripts"]
    if project.get("gui-scripts"):
        yield "gui_scripts", project["gui-scripts"]
    for group, entries in sorted(project.get("entry-points", {}).items()):
        yield group, entries


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    pyproject, version_file, out_dir = map(pathlib.Path, argv)
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    name, version = project["name"], read_version(project, version_file)

    # Same folder name as a wheel install: name normalised to underscores.
    dist_info = out_dir / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    sections = []
    for group, entries in entry_point_groups(project):
        lines = [f"[{group}]"] + [f"{key} = {value}" for key, value in sorted(entries.items())]
        sections.append("\n".join(lines) + "\n")
    (dist_info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
