#!/usr/bin/env bash
# Runs the Bazel tests offline with Debian's Bazel 4.2.3.
#
#   apt-get install -y bazel-bootstrap bazel-platforms bazel-rules-java
#   tools/bazel/test.sh [bazel test flags...] [targets...]    (default target: //...)
#
# Python packages come from the virtualenv: $VIRTUAL_ENV if one is active, else
# ./.venv (created with `pip install -e '.[test]'` or `pip install '.[test]'`).
# rules_cc and remote_coverage_tools, which Bazel would download, are replaced by
# the stubs in third_party/bazel/; --override_repository needs absolute paths,
# hence this script rather than .bazelrc.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  if [[ ! -f .venv/bin/activate ]]; then
    echo "tools/bazel/test.sh: activate a virtualenv with tfncsn's dependencies, or create ./.venv" >&2
    exit 2
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
if ! command -v bazel >/dev/null || [[ ! -d /usr/share/bazel/rules/java ]]; then
  echo "tools/bazel/test.sh: run: apt-get install -y bazel-bootstrap bazel-platforms bazel-rules-java" >&2
  exit 2
fi
python3 -c 'import tomllib, pytest, tensorflow' 2>/dev/null || {
  echo "tools/bazel/test.sh: $(command -v python3) lacks Python >= 3.11, pytest or tensorflow" >&2
  exit 2
}

# Default to every target unless a target pattern was given.
targets=("//...")
for arg in "$@"; do
  [[ "$arg" == //* || "$arg" == :* ]] && targets=()
done

exec bazel test \
  --override_repository=rules_cc="$PWD/third_party/bazel/rules_cc" \
  --override_repository=remote_coverage_tools="$PWD/third_party/bazel/remote_coverage_tools" \
  "$@" "${targets[@]}"
