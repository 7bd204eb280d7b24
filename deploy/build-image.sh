#!/bin/sh
# Builds the jumpcache binary on this host and a container image around it, FROM scratch:
# the binary, the shared libraries it loads (ldd), what glibc needs to resolve DNS names
# (nsswitch.conf and the libnss modules) and a non-root user. No base image is pulled.
#
#   deploy/build-image.sh [TAG]          # default tag: jumpcache:latest
#
# JUMPCACHE_BINARY=path  packs that binary instead of building target/release/jumpcache
#                        (the image test packs the test build).
# The files are staged in target/docker-root/, the only path .dockerignore lets through
# (under a lock, target/docker-root.lock, held until the image is built).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-jumpcache:latest}
cd "$root"

if [ -n "${JUMPCACHE_BINARY:-}" ]; then
    binary=$JUMPCACHE_BINARY
else
    cargo build --release --locked -p jumpcache
    binary=target/release/jumpcache
fi

stage=target/docker-root
# One build at a time stages there (two image tests running side by side, under nextest).
mkdir -p target
if command -v flock >/dev/null; then
    exec 9>target/docker-root.lock
    flock 9
fi
rm -rf "$stage"
mkdir -p "$stage/usr/local/bin" "$stage/etc" "$stage/tmp"
cp "$binary" "$stage/usr/local/bin/jumpcache"

# Copies a file into the stage at the same path, following symlinks.
stage_file() {
    mkdir -p "$stage$(dirname "$1")"
    cp -L "$1" "$stage$1"
}

# The dynamic loader and every library the binary links ("libc.so.6 => /lib/...").
for lib in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    stage_file "$lib"
done

# getaddrinfo reads nsswitch.conf and loads libnss_files (/etc/hosts, which Docker and
# Kubernetes write) and libnss_dns (resolv.conf); since glibc 2.34 both live in libc and
# these files are stubs, but older hosts need them.
libdir=$(dirname "$(ldd "$binary" | awk '$1 == "libc.so.6" { print $3 }')")
for nss in libnss_files.so.2 libnss_dns.so.2 libresolv.so.2; do
    if [ -e "$libdir/$nss" ]; then
        stage_file "$libdir/$nss"
    fi
done
printf 'hosts: files dns\n' > "$stage/etc/nsswitch.conf"

# A numeric non-root user (Kubernetes' runAsNonRoot checks the number), named for `id`.
printf 'root:x:0:0:root:/:/sbin/nologin\njumpcache:x:10001:10001:jumpcache:/:/sbin/nologin\n' \
    > "$stage/etc/passwd"
printf 'root:x:0:\njumpcache:x:10001:\n' > "$stage/etc/group"
chmod 1777 "$stage/tmp"

docker build --tag "$tag" --file Dockerfile .
echo "built $tag ($(du -sh "$stage" | cut -f1) staged from $binary)"
