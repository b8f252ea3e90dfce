"""The documents the code cites ship with it: docs/algorithms.md, its sections and anchors.

Comments once cited an external specification that was never in the repository. They now cite
docs/algorithms.md ("docs/algorithms.md section 6.2", "docs/algorithms.md#langevin") or the
paper. These tests keep it that way: no source file names the old document, and every citation
of docs/algorithms.md points at a numbered section or an anchor that exists.
"""

import re
import subprocess

import pytest

from conftest import REPO

DOC = REPO / "docs" / "algorithms.md"
SUFFIXES = (".py", ".md", ".cfg")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}

# Assembled from parts so that this file does not match itself.
OLD_DOCUMENT = re.compile(r"\b" + "SP" + "EC" + r"\b")
SECTION_CITATION = re.compile(
    r"docs/algorithms\.md,?\s+sections?\s+"
    r"(\d+(?:\.\d+)*(?:(?:\s*,\s*|\s+and\s+|\s+or\s+|\s*,\s*and\s+)\d+(?:\.\d+)*)*)")
ANCHOR_CITATION = re.compile(r"(?<![\w.-])(?:docs/)?algorithms\.md#([\w-]+)")
NUMBERED_HEADING = re.compile(r"^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s+\S", re.M)
EXPLICIT_ANCHOR = re.compile(r'<a\s+(?:id|name)="([\w-]+)"\s*>\s*</a>')
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
LINK = re.compile(r"\]\(([\w./-]*)#([\w-]+)\)")


def repo_files():
    """The repository's .py/.md/.cfg files: `git ls-files` (tracked, plus new files not ignored),
    or a walk of the tree where there is no git checkout (e.g. Bazel's runfiles)."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=REPO, text=True,
                             capture_output=True, check=True).stdout.strip()
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        top, listed = None, None
    if listed is not None and top and REPO.samefile(top):
        paths = {REPO / line for line in listed.splitlines() if line.endswith(SUFFIXES)}
        return sorted(p for p in paths if p.is_file())
    return sorted(p for p in REPO.rglob("*")
                  if p.suffix in SUFFIXES and p.is_file()
                  and not SKIP_DIRS.intersection(p.relative_to(REPO).parts[:-1])
                  and not any(part.startswith("bazel-") for part in p.relative_to(REPO).parts))


FILES = repo_files()


def read(path):
    return path.read_text(encoding="utf-8", errors="replace")


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"`|\*\*|<[^>]+>", "", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors_of(path):
    text = read(path)
    return set(EXPLICIT_ANCHOR.findall(text)) | {slug(h) for h in HEADING.findall(text)}


def numbers(citation):
    return re.findall(r"\d+(?:\.\d+)*", citation)


def test_the_reference_document_exists_with_numbered_sections_and_anchors():
    text = read(DOC)
    sections = NUMBERED_HEADING.findall(text)
    top = [s for s in sections if "." not in s]
    assert top == [str(i) for i in range(1, len(top) + 1)], f"top-level sections: {top}"
    assert len(top) >= 10
    # Each numbered heading carries an explicit anchor just above it, so renaming a heading
    # does not break the "#anchor" citations.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if NUMBERED_HEADING.match(line):
            assert i > 0 and EXPLICIT_ANCHOR.fullmatch(lines[i - 1].strip()), \
                f"no <a id=...></a> line above {line!r}"


def test_the_file_list_is_the_repository():
    names = {p.relative_to(REPO).as_posix() for p in FILES}
    for expected in ("tfncsn/losses.py", "docs/algorithms.md", "README.md",
                     "tests/test_algorithms_doc.py"):
        assert expected in names, expected


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_file_cites_the_unshipped_document(path):
    bad = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
           for n, line in enumerate(read(path).splitlines(), 1) if OLD_DOCUMENT.search(line)]
    assert not bad, "cite docs/algorithms.md or the paper instead:\n" + "\n".join(bad)


def test_every_citation_of_algorithms_md_points_at_an_existing_section_or_anchor():
    text = read(DOC)
    sections = set(NUMBERED_HEADING.findall(text))
    anchors = anchors_of(DOC)
    cited, broken = 0, []
    for path in FILES:
        source = read(path)
        where = path.relative_to(REPO).as_posix()
        for match in SECTION_CITATION.finditer(source):
            for number in numbers(match.group(1)):
                cited += 1
                if number not in sections:
                    broken.append(f"{where}: section {number}")
        for anchor in ANCHOR_CITATION.findall(source):
            cited += 1
            if anchor not in anchors:
                broken.append(f"{where}: #{anchor}")
    assert not broken, ("citations of docs/algorithms.md that point nowhere "
                        f"(sections: {sorted(sections)}):\n" + "\n".join(broken))
    assert cited >= 20, f"only {cited} citations found: is the pattern still right?"


def test_links_inside_algorithms_md_resolve():
    broken = []
    for target, anchor in LINK.findall(read(DOC)):
        path = DOC if not target else (DOC.parent / target)
        if not path.is_file():
            broken.append(f"{target}#{anchor}: no such file")
        elif anchor not in anchors_of(path):
            broken.append(f"{target or 'algorithms.md'}#{anchor}: no such anchor")
    assert not broken, "\n".join(broken)


def test_the_citation_patterns():
    assert OLD_DOCUMENT.search("(" + "SP" + "EC section 6)")
    assert OLD_DOCUMENT.search("SP" + "EC §2")
    assert not OLD_DOCUMENT.search("a SPECIAL case, spec files, INSPECT")
    found = [numbers(m.group(1)) for m in SECTION_CITATION.finditer(
        "docs/algorithms.md section 6.2, step 2; docs/algorithms.md sections 2 and 3")]
    assert found == [["6.2"], ["2", "3"]]
    assert ANCHOR_CITATION.findall("see docs/algorithms.md#ssm and (algorithms.md#evaluation)") \
        == ["ssm", "evaluation"]
    assert slug("6.1 Conditional instance normalisation ++") == \
        "61-conditional-instance-normalisation-"
