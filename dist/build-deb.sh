#!/bin/sh
# Builds a Debian package of Junction with dpkg-deb (no cargo-deb needed).
#
#   dist/build-deb.sh [--binary PATH] [--out DIR] [--fast]
#
# --binary  the junction binary to package (default: build it with
#           `cargo build --release` and take target/release/junction)
# --out     where the .deb goes (default: target/debian)
# --fast    gzip -1 instead of xz (tests; the package is larger)
#
# The package: /usr/bin/junction (stripped), the systemd unit
# (enabled on install, not started: edit the config first), the config in
# /etc/junction/config.json (a conffile: kept and asked about on upgrades),
# a `junction` system user (created by postinst; the unit's DynamicUser=
# then runs the service as that user, with a stable UID), the docs in
# /usr/share/doc/junction, a man page. Prints the .deb's path.
#
# Environment: DEB_MAINTAINER ("Name <email>"; default: git's user.name and
# user.email), DEB_REVISION (default 1).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
binary=
out="$root/target/debian"
compress="-Zxz"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --fast) compress="-Zgzip -z1"; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v dpkg-deb >/dev/null || { echo "build-deb.sh: dpkg-deb is not installed" >&2; exit 1; }
if [ -z "$binary" ]; then
    (cd "$root" && cargo build --release --bin junction)
    binary="$root/target/release/junction"
fi
[ -x "$binary" ] || { echo "build-deb.sh: $binary is not an executable" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
revision=${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
# The maintainer: DEB_MAINTAINER, else git's user.name and user.email.
maintainer=${DEB_MAINTAINER:-}
if [ -z "$maintainer" ]; then
    name=$(git -C "$root" config user.name || true)
    email=$(git -C "$root" config user.email || true)
    if [ -n "$name" ] && [ -n "$email" ]; then
        maintainer="$name <$email>"
    else
        maintainer="Junction developers <junction@localhost>"
    fi
fi
year=$(git -C "$root" log --reverse --format=%ad --date=format:%Y 2>/dev/null | head -n 1)
year=${year:-$(date +%Y)}
# The newest glibc symbol version the binary needs.
glibc=$(objdump -T "$binary" | sed -n 's/.*GLIBC_\([0-9][0-9.]*\).*/\1/p' | sort -V | tail -n 1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/junction"
doc="$pkg/usr/share/doc/junction"
man="$pkg/usr/share/man/man1"
overrides="$pkg/usr/share/lintian/overrides"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/systemd/system" "$pkg/etc/junction" "$doc" \
    "$man" "$overrides"

install -m 755 "$binary" "$pkg/usr/bin/junction"
# Symbols too (Debian ships them in -dbgsym packages): a panic's backtrace
# then shows addresses; keep target/release/junction to resolve them.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/junction"
install -m 644 "$root/dist/junction.service" "$pkg/usr/lib/systemd/system/junction.service"
install -m 644 "$root/dist/config.json" "$pkg/etc/junction/config.json"
gzip -9n < "$root/dist/junction.1" > "$man/junction.1.gz"
chmod 644 "$man/junction.1.gz"
cat > "$overrides/junction" <<'EOF'
# serde_yaml_ng uses unsafe-libyaml, a Rust translation of libyaml (no C
# library to link against instead).
junction: embedded-library libyaml [usr/bin/junction]
# Built locally, not uploaded to Debian: no bug to close.
junction: initial-upload-closes-no-bugs [usr/share/doc/junction/changelog.Debian.gz:1]
EOF
chmod 644 "$overrides/junction"
for f in README.md docs/operations.md docs/config.md docs/metrics.md dist/grafana-dashboard.json; do
    install -m 644 "$root/$f" "$doc/$(basename "$f")"
done
# Debian policy 12.3: documentation over 4 kB is compressed.
for f in "$doc"/*.md; do
    if [ "$(stat -c %s "$f")" -gt 4096 ]; then gzip -9n "$f"; fi
done
cat > "$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: junction

Files: *
Copyright: YEAR The Junction developers
License: MIT or Apache-2.0

License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.
EOF
sed -i "s/^Copyright: YEAR/Copyright: $year/" "$doc/copyright"
chmod 644 "$doc/copyright"
date=$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
printf 'junction (%s-%s) unstable; urgency=medium\n\n  * Built by dist/build-deb.sh.\n\n -- %s  %s\n' \
    "$version" "$revision" "$maintainer" "$date" | gzip -9n > "$doc/changelog.Debian.gz"
chmod 644 "$doc/changelog.Debian.gz"

echo /etc/junction/config.json > "$pkg/DEBIAN/conffiles"

cat > "$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd junction >/dev/null; then
        adduser --system --group --quiet --home /var/lib/junction --no-create-home \
            --gecos "Junction WAMP router" junction
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
    fi
    # Enabled, not started on a first install: edit /etc/junction/config.json,
    # then `systemctl start junction`. An upgrade restarts a running service.
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper unmask junction.service >/dev/null || true
        if deb-systemd-helper --quiet was-enabled junction.service; then
            deb-systemd-helper enable junction.service >/dev/null || true
        else
            deb-systemd-helper update-state junction.service >/dev/null || true
        fi
    fi
    if [ -n "$2" ] && [ -d /run/systemd/system ]; then
        deb-systemd-invoke try-restart junction.service >/dev/null || true
    fi
fi
exit 0
EOF

cat > "$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop junction.service >/dev/null || true
fi
exit 0
EOF

cat > "$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask junction.service >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper purge junction.service >/dev/null || true
    deb-systemd-helper unmask junction.service >/dev/null || true
fi
# The junction user and /var/lib/junction (event stores) stay: remove them
# by hand when the data is no longer needed.
exit 0
EOF
chmod 755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"

(cd "$pkg" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 644 "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<EOF
Package: junction
Version: $version-$revision
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: libc6 (>= $glibc), libgcc-s1, adduser
Section: net
Priority: optional
Homepage: https://wamp-proto.org/
Description: WAMP v2 router (routed RPC and PubSub)
 Junction is a WAMP v2 router on a thread-per-core io_uring runtime, with
 WebSocket, RawSocket, MQTT and HTTP bridge transports. It reads
 Crossbar.io node configs.
 .
 The package installs the systemd unit junction.service, enabled but not
 started: edit /etc/junction/config.json, then start the service.
EOF

mkdir -p "$out"
deb="$out/junction_${version}-${revision}_${arch}.deb"
# shellcheck disable=SC2086 # $compress is two options
dpkg-deb --root-owner-group $compress --build "$pkg" "$deb" >/dev/null
echo "$deb"
