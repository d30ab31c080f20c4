#!/usr/bin/env bash
# Build the noarch RPM from lago.spec into ./dist/rpm (needs rpmbuild).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/^Version: *//p' "$ROOT/lago.spec")"
TOP="${RPM_TOPDIR:-$ROOT/dist/rpm}"
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
git -C "$ROOT" archive --format=tar.gz --prefix="lago-$VERSION/" \
    -o "$TOP/SOURCES/lago-$VERSION.tar.gz" HEAD
# the HTML documentation and lago(1), built with the project's virtualenv
# (Sphinx imports every module for the API reference) as a second source
PY="${LAGO_PYTHON:-$ROOT/.venv/bin/python}"
DOCS="$TOP/BUILD/lago-docs-$VERSION"
rm -rf "$DOCS"
for builder in html man; do
    "$PY" -m sphinx -W -q -d "$TOP/doctrees" -b "$builder" "$ROOT/docs" "$DOCS/$builder"
done
tar -C "$TOP/BUILD" -czf "$TOP/SOURCES/lago-docs-$VERSION.tar.gz" "lago-docs-$VERSION"
# setup.py reads the committed etc/lago.conf, README and package data only
rpmbuild --define "_topdir $TOP" --nodeps -bb "$ROOT/lago.spec"
find "$TOP/RPMS" -name '*.rpm' -print
