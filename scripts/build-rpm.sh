#!/usr/bin/env bash
# Build the noarch RPM from lago.spec into ./dist/rpm (needs rpmbuild).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="$(sed -n 's/^Version: *//p' "$ROOT/lago.spec")"
TOP="${RPM_TOPDIR:-$ROOT/dist/rpm}"
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
git -C "$ROOT" archive --format=tar.gz --prefix="lago-$VERSION/" \
    -o "$TOP/SOURCES/lago-$VERSION.tar.gz" HEAD
# setup.py reads the committed etc/lago.conf, README and package data only
rpmbuild --define "_topdir $TOP" --nodeps -bb "$ROOT/lago.spec"
find "$TOP/RPMS" -name '*.rpm' -print
