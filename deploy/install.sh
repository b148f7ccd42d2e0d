#!/bin/sh
# Install scan-worker as a systemd service. From the repository root, after `deno task compile`:
#   sudo sh deploy/install.sh
# then edit /etc/scan-worker/scan-worker.env and `systemctl restart scan-worker`.
#
# DESTDIR=/path installs under that folder instead (for packaging, and for the test that runs
# these steps); the user is then not created and the service not started, and where the
# service's user or group does not exist on this machine the files keep the installer's owner
# (say so, and set the owners when the package is installed). BINARY (default
# dist/scan-worker), SCAN_WORKER_USER and SCAN_WORKER_GROUP (default scan-worker) can be set;
# another user or group goes into the unit's drop-in scan-worker.service.d/user.conf.
# An existing /etc/scan-worker/scan-worker.env is kept.
#
# Everything is checked before anything is installed; if a step fails all the same, what this
# run created (files, folders, the user) is removed again, and the exit code is 1.
set -eu
root=${DESTDIR:-}
user=${SCAN_WORKER_USER:-scan-worker}
group=${SCAN_WORKER_GROUP:-$user}
binary=${BINARY:-dist/scan-worker}

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

# Checks first: nothing is touched until all of them pass.
[ -f "$binary" ] || fail "no executable at $binary: run \`deno task compile\` first (or set BINARY)"
for source in deploy/scan-worker.env.example deploy/scan-worker.service README.md; do
  [ -f "$source" ] || fail "$source is missing: run this from the repository root"
done
if [ -z "$root" ]; then
  [ "$(id -u)" -eq 0 ] || fail "installing into / needs root (sudo sh deploy/install.sh)"
  command -v systemctl >/dev/null 2>&1 || fail "systemctl not found: this installs a systemd service"
fi
owners=yes
if [ -n "$root" ]; then
  if ! id -u "$user" >/dev/null 2>&1 || ! getent group "$group" >/dev/null 2>&1; then
    owners=no
    echo "install.sh: user $user or group $group does not exist here: files keep the installer's owner; set owners ($user:$group on /var/lib/scan-worker, root:$group on /etc/scan-worker) when the package is installed"
  elif [ "$(id -u)" -ne 0 ]; then
    owners=no
    echo "install.sh: not root: files keep your owner; set owners ($user:$group) when the package is installed"
  fi
fi

# What this run created, newest first, to undo on failure.
created=""
created_user=""
undo() {
  status=$?
  [ "$status" -eq 0 ] && return
  for path in $created; do
    if [ -d "$path" ]; then rmdir "$path" 2>/dev/null || true; else rm -f "$path"; fi
  done
  if [ -n "$created_user" ]; then userdel "$created_user" 2>/dev/null || true; fi
  echo "install.sh: failed; removed what this run had installed" >&2
  exit 1
}
trap undo EXIT

# Create a folder (and its missing parents) with a mode, and owners when they can be set.
folder() { # mode owner group path
  missing=""
  path=$4
  while [ ! -e "$path" ]; do
    missing="$path $missing"
    path=$(dirname "$path")
  done
  if [ "$owners" = yes ]; then install -d -m "$1" -o "$2" -g "$3" "$4"; else install -d -m "$1" "$4"; fi
  for path in $missing; do created="$path $created"; done
}
# Install a file with a mode, and owners when they can be set.
file() { # mode owner group source target
  [ -e "$5" ] || created="$5 $created"
  if [ "$owners" = yes ]; then install -m "$1" -o "$2" -g "$3" "$4" "$5"; else install -m "$1" "$4" "$5"; fi
}

if [ -z "$root" ] && ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/scan-worker --no-create-home \
    --shell /usr/sbin/nologin "$user"
  created_user=$user
fi
folder 0755 root root "$root/usr/local/bin"
folder 0755 root root "$root/etc/systemd/system"
file 0755 root root "$binary" "$root/usr/local/bin/scan-worker"
# Settings and secrets: readable by root and the service's group only.
folder 0750 root "$group" "$root/etc/scan-worker"
if [ ! -e "$root/etc/scan-worker/scan-worker.env" ]; then
  file 0640 root "$group" deploy/scan-worker.env.example "$root/etc/scan-worker/scan-worker.env"
fi
# The service's state (the SQLite database and its -wal, -shm and .lock files).
folder 0750 "$user" "$group" "$root/var/lib/scan-worker"
file 0644 root root deploy/scan-worker.service "$root/etc/systemd/system/scan-worker.service"
# Another user or group than the unit's own: a drop-in says so (the unit itself stays as shipped).
if [ "$user" != scan-worker ] || [ "$group" != scan-worker ]; then
  folder 0755 root root "$root/etc/systemd/system/scan-worker.service.d"
  dropin="$root/etc/systemd/system/scan-worker.service.d/user.conf"
  [ -e "$dropin" ] || created="$dropin $created"
  printf '[Service]\nUser=%s\nGroup=%s\n' "$user" "$group" >"$dropin"
  chmod 0644 "$dropin"
fi
folder 0755 root root "$root/usr/local/share/doc/scan-worker"
for doc in README.md docs/*.md; do
  file 0644 root root "$doc" "$root/usr/local/share/doc/scan-worker/$(basename "$doc")"
done
if [ -z "$root" ]; then
  systemctl daemon-reload
  systemctl enable --now scan-worker
fi
echo "installed scan-worker under ${root:-/}"
