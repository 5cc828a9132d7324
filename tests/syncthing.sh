#!/usr/bin/env bash
# tests/syncthing.sh: the way a phone's chat backups reach a sealfs vault
# (issue 20), checked with the real tool. Opt-in; needs root, /dev/fuse,
# Go and Debian's syncthing package (apt-get install syncthing).
#
# Two Syncthing instances on loopback (API keys; global and local
# discovery, relays, NAT traversal and usage reporting off): "phone"
# shares a chat-shaped tree send-only, "computer" receives it into a
# plain directory, then, as a fresh instance, into a sealfs mount on a
# directory store. It prints both sync times and their ratio, verifies
# every file (sha256, mode, mtime) after a read-only remount on another
# device, and reports the store's growth against the bytes synced.
#
#   tests/syncthing.sh            # about 300 MiB
#   SCALE=3 tests/syncthing.sh    # three times the big files
#   MOUNT_FLAGS="--memory-budget 256" tests/syncthing.sh   # extra mount flags
#
# Exits non-zero if a sync fails, reports folder errors, or a file
# differs; times are printed, not judged.
set -euo pipefail

command -v syncthing >/dev/null || { echo "syncthing.sh: syncthing not found: apt-get install syncthing" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "syncthing.sh: run as root (FUSE mounts)" >&2; exit 2; }
[ -e /dev/fuse ] || { echo "syncthing.sh: /dev/fuse is missing" >&2; exit 2; }

SCALE=${SCALE:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/sealfs-syncthing.XXXXXX)
pids=()
mounts=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for m in "${mounts[@]}"; do
		if mountpoint -q "$m"; then "$work/sealfs" umount "$m" >/dev/null 2>&1 || umount -l "$m" || true; fi
	done
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '%s syncthing.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

say "building sealfs"
(cd "$repo" && go build -o "$work/sealfs" ./cmd/sealfs)

# A chat app's backup folder: the current database, a few daily ones, and
# media of many sizes.
say "writing the phone's tree"
phone=$work/phone
mkdir -p "$phone/Databases" "$phone/Backups" "$phone/Media/Images" "$phone/Media/Voice Notes" "$phone/Media/Documents"
head -c $((64 * SCALE))M /dev/urandom >"$phone/Databases/msgstore.db.crypt15"
for d in 1 2 3; do
	head -c $((24 * SCALE))M /dev/urandom >"$phone/Databases/msgstore-2026-12-0$d.1.db.crypt15"
done
head -c 3M /dev/urandom >"$phone/Backups/chatsettingsbackup.db.crypt15"
head -c 40K /dev/urandom >"$phone/Backups/wallpapers.backup"
for i in $(seq 1 200); do
	head -c $(( (i * 7919 % 400 + 30) * 1024 )) /dev/urandom >"$phone/Media/Images/IMG-20261201-WA$(printf %04d "$i").jpg"
done
for i in $(seq 1 60); do
	head -c $(( (i * 104729 % 90 + 8) * 1024 )) /dev/urandom >"$phone/Media/Voice Notes/PTT-20261201-WA$(printf %04d "$i").opus"
done
for i in $(seq 1 8); do
	head -c $(( (i * 3 + 1) * 1024 * 1024 + i )) /dev/urandom >"$phone/Media/Documents/scan-$i.pdf"
done
chmod 600 "$phone/Databases/"*
files=$(find "$phone" -type f | wc -l)
bytes=$(find "$phone" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
say "$files files, $((bytes >> 20)) MiB"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# instance NAME: generates a home, starts syncthing serve and sets
# st_<NAME>_{home,gui,key,addr,id}.
instance() {
	local name=$1 home=$work/st-$1 gui lport key
	gui=$(freeport)
	lport=$(freeport)
	key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
	syncthing generate --home="$home" --no-default-folder >/dev/null 2>&1
	python3 - "$home/config.xml" "$lport" <<'EOF'
import re, sys
path, port = sys.argv[1], sys.argv[2]
x = open(path).read()
def opt(tag, value):
    global x
    x, n = re.subn(r"<%s>[^<]*</%s>" % (tag, tag), "<%s>%s</%s>" % (tag, value, tag), x)
    if n == 0:
        x = x.replace("</options>", "    <%s>%s</%s>\n    </options>" % (tag, value, tag))
x = re.sub(r"\s*<listenAddress>[^<]*</listenAddress>", "", x)
opt("listenAddress", "tcp://127.0.0.1:" + port)
for tag, value in [("globalAnnounceEnabled", "false"), ("localAnnounceEnabled", "false"),
                   ("relaysEnabled", "false"), ("natEnabled", "false"), ("urAccepted", "-1"),
                   ("autoUpgradeIntervalH", "0"), ("crashReportingEnabled", "false"),
                   ("startBrowser", "false")]:
    opt(tag, value)
open(path, "w").write(x)
EOF
	STNORESTART=1 syncthing serve --home="$home" --no-browser --no-upgrade --no-default-folder \
		--gui-address="http://127.0.0.1:$gui" --gui-apikey="$key" --logfile="$home/log" >/dev/null 2>&1 &
	pids+=($!)
	eval "st_${name}_home=\$home st_${name}_gui=\$gui st_${name}_key=\$key st_${name}_addr=tcp://127.0.0.1:\$lport"
	local i
	for i in $(seq 1 100); do
		if api "$name" GET /rest/system/ping >/dev/null 2>&1; then break; fi
		sleep 0.2
	done
	eval "st_${name}_id=\$(api $name GET /rest/system/status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"myID\"])')"
}

# api NAME METHOD PATH [JSON]: one REST call.
api() {
	local gui key
	eval "gui=\$st_$1_gui key=\$st_$1_key"
	curl -fsS -X "$2" -H "X-API-Key: $key" ${4:+-H 'Content-Type: application/json' -d "$4"} "http://127.0.0.1:$gui$3"
}

# share NAME PEER TYPE PATH: NAME knows PEER and shares folder "chat" at
# PATH with it as TYPE.
share() {
	local peer_id peer_addr
	eval "peer_id=\$st_$2_id peer_addr=\$st_$2_addr"
	api "$1" POST /rest/config/devices "{\"deviceID\":\"$peer_id\",\"name\":\"$2\",\"addresses\":[\"$peer_addr\"]}" >/dev/null
	api "$1" POST /rest/config/folders "{\"id\":\"chat\",\"label\":\"chat\",\"path\":\"$4\",\"type\":\"$3\",
		\"devices\":[{\"deviceID\":\"$peer_id\"}],\"fsWatcherEnabled\":false,\"rescanIntervalS\":3600}" >/dev/null
}

folder_errors() {
	api "$1" GET "/rest/folder/errors?folder=chat" | python3 -c '
import json, sys
e = json.load(sys.stdin).get("errors") or []
for x in e: print("  ", x.get("path"), x.get("error"))
sys.exit(1 if e else 0)'
}

# wait_synced NAME: waits until the folder on NAME is idle with every file
# and nothing needed, and prints when that was (seconds since the epoch).
# One process follows Syncthing's event stream and asks for the folder's
# status only when its state changes (or after a quiet second): polling
# with a curl and a python3 per look took about a quarter of the two cores
# the sync is timed on.
wait_synced() {
	local gui key
	eval "gui=\$st_$1_gui key=\$st_$1_key"
	python3 - "$gui" "$key" "$files" "$1" <<'EOF'
import json, sys, time, urllib.request
gui, key, files, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def get(path):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (gui, path), headers={"X-API-Key": key})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
deadline = time.time() + 600
since = 0
while True:
    s = get("/rest/db/status?folder=chat")
    if s["state"] == "idle" and s["needTotalItems"] == 0 and s["globalFiles"] == files and s["inSyncFiles"] == files:
        print("%.3f" % time.time())
        sys.exit(0)
    if time.time() > deadline:
        print("syncthing.sh: %s did not finish syncing in 10 minutes: %s" % (name, json.dumps(s)), file=sys.stderr)
        sys.exit(1)
    evs = get("/rest/events?events=StateChanged,FolderSummary&since=%d&timeout=1" % since) or []
    since = max([since] + [e["id"] for e in evs])
EOF
}

say "starting the phone's syncthing"
instance phone

# sync_into NAME DIR: a fresh receiving instance syncs the phone's folder
# into DIR; sets took to the seconds it took.
sync_into() {
	instance "$1"
	local id
	eval "id=\$st_$1_id"
	share phone "$1" sendonly "$phone"
	mkdir -p "$2"
	wait_synced phone >/dev/null 2>&1 || true
	local start end
	start=$(date +%s.%N)
	share "$1" phone receiveonly "$2"
	end=$(wait_synced "$1")
	if ! folder_errors "$1"; then
		echo "syncthing.sh: $1 reports folder errors" >&2
		return 1
	fi
	api phone DELETE "/rest/config/devices/$id" >/dev/null
	took=$(python3 -c "print(f'{$end - $start:.2f}')")
}

# Plain directory first: the baseline.
say "syncing into a plain directory"
sync_into plaindir "$work/plain/chat"
plain_s=$took

# Then into a sealfs mount on a directory store.
export SEALFS_PASSPHRASE="syncthing check passphrase"
store=$work/store
HOME=$work/home-computer XDG_CACHE_HOME=$work/home-computer/.cache \
	"$work/sealfs" init --kdf-memory 64 --kdf-time 2 --kdf-threads 1 "$store" >/dev/null
mnt=$work/mnt
mkdir -p "$mnt"
HOME=$work/home-computer XDG_CACHE_HOME=$work/home-computer/.cache \
	"$work/sealfs" mount --daemon --device computer ${MOUNT_FLAGS:-} "$store" "$mnt"
mounts+=("$mnt")
before=$(du -sb "$store" | cut -f1)
say "syncing into a sealfs mount"
sync_into sealfs "$mnt/chat"
mount_s=$took
HOME=$work/home-computer "$work/sealfs" umount "$mnt"
after=$(du -sb "$store" | cut -f1)

say "verifying after a read-only remount on another device"
ro=$work/ro
mkdir -p "$ro"
HOME=$work/home-laptop XDG_CACHE_HOME=$work/home-laptop/.cache \
	"$work/sealfs" mount --daemon --read-only --device laptop "$store" "$ro"
mounts+=("$ro")
manifest() { (cd "$1" && find . -path ./.stfolder -prune -o -type f -printf '%P\t%m\t%T@\t%s\n' | sort >"$2.meta" &&
	find . -path ./.stfolder -prune -o -type f -print0 | sort -z | xargs -0 sha256sum >"$2.sha"); }
manifest "$phone" "$work/want"
manifest "$ro/chat" "$work/got"
# mtimes: whole seconds (Syncthing keeps nanoseconds; compare what both keep)
sed -i -E 's/\t([0-9]+)\.[0-9]+\t/\t\1\t/' "$work/want.meta" "$work/got.meta"
bad=0
diff -u "$work/want.sha" "$work/got.sha" >&2 || bad=1
diff -u "$work/want.meta" "$work/got.meta" >&2 || bad=1
HOME=$work/home-laptop "$work/sealfs" umount "$ro"

growth=$((after - before))
python3 - "$files" "$bytes" "$plain_s" "$mount_s" "$growth" "$bad" <<'EOF'
import sys
files, size, plain, mnt, growth, bad = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
print(f"syncthing: {files} files, {size / 2**20:.0f} MiB")
print(f"  into a plain directory: {plain:.2f} s")
print(f"  into a sealfs mount:    {mnt:.2f} s ({mnt / plain:.1f}x; target <= 2x)")
print(f"  store growth: {growth / 2**20:.0f} MiB ({growth / size:.2f}x the synced bytes; target <= 1.1x)")
print("  files after a read-only remount on another device: " + ("DIFFERENT" if bad else "identical (sha256, mode, mtime)"))
EOF
[ "$bad" = 0 ]
