#!/bin/sh
# Entry point of the Tomori image: checks what the container was given, then hands over to the
# binary with `exec`, so that the bot is PID 1's direct replacement and receives SIGTERM itself.
#
#   docker run ... tomori            -> tomori run
#   docker run ... tomori doctor     -> tomori doctor (any tomori command passes through)
#
# The data directory (embedded PostgreSQL, key files) is $TOMORI_DATA_DIR, /data by default: a
# volume owned by the user the container runs as.
set -eu

bin="${TOMORI_BIN:-/usr/local/bin/tomori}"
data="${TOMORI_DATA_DIR:-/data}"

say() { echo "tomori-entrypoint: $*" >&2; }

# PostgreSQL refuses to run as root, and the bot needs no such rights.
if [ "$(id -u)" = 0 ]; then
    say "refusing to run as root: run the image as its own user (the default), or with --user UID:GID that owns $data"
    exit 1
fi

if ! mkdir -p "$data" 2>/dev/null || [ ! -w "$data" ] || [ ! -x "$data" ]; then
    say "$data is not writable by uid $(id -u): mount a volume there owned by that user (chown $(id -u):$(id -g) on the host, or a named volume)"
    exit 1
fi

# The key ring: TOMORI_SECRET_V<n> from the environment (an EnvironmentFile, a secret store), or
# key files in the volume. Without either the first start creates one inside the volume, beside
# the database it protects: say so, since a backup of the volume then holds both.
if [ -z "${TOMORI_SECRET_V1:-}" ] && ! ls "$data"/keys/v*.key >/dev/null 2>&1; then
    say "no TOMORI_SECRET_V1 and no key file under $data/keys: the first start creates $data/keys/v1.key; keep a copy apart from the database (README, Backups)"
fi

export TOMORI_DATA_DIR="$data"
if [ "$#" -eq 0 ]; then
    set -- run
fi
exec "$bin" "$@"
