#!/bin/sh
# Make sure OpenSSH's sshd and the sqlite3 CLI exist for the test suite's real SSH servers
# (and socat + iproute2 for the network-namespace worker of the Celery tests).
#
# The tests start their own sshd processes (one per simulated PBX, on 127.0.0.0/8), so this
# script only installs the packages; it never leaves the system sshd service running or enabled.
# Idempotent: silent when everything is already there; prints one line when it installs.
# Without root and with sshd missing it warns on stderr and exits 0 (the tests then skip, or
# fail when ASTERISK_TEST_REQUIRE_SERVICES=1).
set -eu

sshd=${ASTERISK_TEST_SSHD:-/usr/sbin/sshd}  # same override as tests/support/ssh_fixtures.py
pkgs=""
[ -x "$sshd" ] || pkgs="$pkgs openssh-server"
command -v sqlite3 >/dev/null 2>&1 || pkgs="$pkgs sqlite3"
command -v ssh-keygen >/dev/null 2>&1 || pkgs="$pkgs openssh-client"
# The Celery cluster tests (tests/deploy): a worker in its own network namespace reaches
# PostgreSQL and Redis through socat forwarders on a veth pair.
command -v socat >/dev/null 2>&1 || pkgs="$pkgs socat"
command -v ip >/dev/null 2>&1 || pkgs="$pkgs iproute2"
[ -n "$pkgs" ] || exit 0

if [ "$(id -u)" != 0 ]; then
    echo "ensure-sshd: not root, cannot install:$pkgs (SSH tests will skip)" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)

# policy-rc.d exit 101 forbids maintainer scripts from starting services during the install.
had_policy=1
if [ ! -e /usr/sbin/policy-rc.d ]; then
    had_policy=0
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi
cleanup() {
    rm -f "$log"
    [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086  # word splitting of the package list is intended
if ! apt-get install -y --no-install-recommends $pkgs >"$log" 2>&1; then
    if ! { apt-get update && apt-get install -y --no-install-recommends $pkgs; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "ensure-sshd: apt-get install of$pkgs failed" >&2
        exit 1
    fi
fi

# In case something started the system sshd anyway, stop it: the tests run their own.
if [ -f /run/sshd.pid ]; then
    pid=$(cat /run/sshd.pid 2>/dev/null || true)
    case "$pid" in
        ''|*[!0-9]*) ;;
        *) kill "$pid" 2>/dev/null || true ;;
    esac
    rm -f /run/sshd.pid
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi
update-rc.d ssh disable >/dev/null 2>&1 || true

echo "ensure-sshd: installed$pkgs (system sshd service not started)"
