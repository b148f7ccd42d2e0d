#!/bin/sh
# Install scan-worker as a systemd service. From the repository root, after `deno task compile`:
#   sudo sh deploy/install.sh
# then edit /etc/scan-worker/scan-worker.env and `systemctl restart scan-worker`.
#
# DESTDIR=/path installs under that folder instead (for packaging, and for the test that runs
# these steps); the user is then not created and the service not started. BINARY (default
# dist/scan-worker), SCAN_WORKER_USER and SCAN_WORKER_GROUP (default scan-worker) can be set.
# An existing /etc/scan-worker/scan-worker.env is kept.
set -eu
root=${DESTDIR:-}
user=${SCAN_WORKER_USER:-scan-worker}
group=${SCAN_WORKER_GROUP:-$user}
binary=${BINARY:-dist/scan-worker}

if [ -z "$root" ] && ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/scan-worker --no-create-home \
    --shell /usr/sbin/nologin "$user"
fi
install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system"
install -m 0755 "$binary" "$root/usr/local/bin/scan-worker"
# Settings and secrets: readable by root and the service's group only.
install -d -m 0750 -o root -g "$group" "$root/etc/scan-worker"
if [ ! -e "$root/etc/scan-worker/scan-worker.env" ]; then
  install -m 0640 -o root -g "$group" deploy/scan-worker.env.example \
    "$root/etc/scan-worker/scan-worker.env"
fi
# The service's state (the SQLite database and its -wal, -shm and .lock files).
install -d -m 0750 -o "$user" -g "$group" "$root/var/lib/scan-worker"
install -m 0644 deploy/scan-worker.service "$root/etc/systemd/system/scan-worker.service"
install -d -m 0755 "$root/usr/local/share/doc/scan-worker"
install -m 0644 README.md docs/*.md "$root/usr/local/share/doc/scan-worker/"
if [ -z "$root" ]; then
  systemctl daemon-reload
  systemctl enable --now scan-worker
fi
echo "installed scan-worker under ${root:-/}"
