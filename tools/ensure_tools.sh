#!/bin/sh
# Make sure the system tools a make target needs are present.
# Usage: tools/ensure_tools.sh COMMAND:DEBIAN_PACKAGE ...
# As root the missing packages are installed with apt-get; otherwise the exact
# apt command is printed and the script fails, so nothing runs half-equipped.
missing_pkgs=""
for spec in "$@"; do
    cmd=${spec%%:*}
    pkg=${spec#*:}
    case "$cmd" in
        python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null && continue ;;
        # PostgreSQL's server binaries live under /usr/lib/postgresql/VERSION/bin, not on PATH.
        postgresql-server) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && continue ;;
        python3-dev) [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ] && continue ;;
        *) command -v "$cmd" >/dev/null 2>&1 && continue ;;
    esac
    missing_pkgs="$missing_pkgs $pkg"
done
[ -z "$missing_pkgs" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing_pkgs" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing_pkgs >/dev/null && exit 0
    echo "tinydrift: error: apt-get install failed for:$missing_pkgs" >&2
    exit 1
fi
echo "tinydrift: error: missing system packages; install them with:" >&2
echo "    sudo apt-get install -y$missing_pkgs" >&2
exit 1
