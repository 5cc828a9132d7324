#!/usr/bin/env bash
# Made the frozen format-4 vaults once (2026-12-06) with sealfs at the commit
# named in README.md. Never run again: the vaults are test vectors.
#
# make-format3.sh, line for line, with every read-write mount --compress,
# plus what format 4 added, compressed chunks: a chat export's result.json
# (text that zstd shrinks, written on the first day: compressed extents,
# op 10), with big=1 over a full chunk and a tail. As in format 3,
# make-format2.sh's tree, day by day (so the tests share their checks), plus
# what format 3 added, content ids: two identical multi-chunk files written
# in the first mount (the second references the first's chunk objects), and
# a small packed file on the first day whose identical twin is written on
# the second day (a reference to the first day's packed bytes, op 9). With
# big=0 the multi-chunk twins are sparse (data in both chunks, a hole
# between) to keep the vault small. Run as root (mknod). Needs
# setfattr/getfattr (attr) and python3 (to bind the socket). Writes
# passphrase and recovery-key itself and strips the store's .sealfs/
# scratch directory.
set -euo pipefail
bin=$1 out=$2 cipher=$3 big=$4
pass="frozen vault passphrase, format 4"
work=$(mktemp -d)
export HOME=$work/home XDG_CACHE_HOME=$work/cache SEALFS_PASSPHRASE="$pass"
mkdir -p "$HOME" "$work/mnt" "$out"
store=$out/store
$bin init --kdf-memory 64 --kdf-time 2 --kdf-threads 1 --cipher "$cipher" "$store" > "$out/init.txt"
printf '%s' "$pass" > "$out/passphrase"
grep -oE '[0-9a-f]{4}(-[0-9a-f]{4}){15}' "$out/init.txt" | head -1 | tr -d '\n' > "$out/recovery-key"
$bin mount --daemon --compress --device frozen-phone "$store" "$work/mnt"
m=$work/mnt
mkdir -p "$m/WhatsApp/Databases" "$m/WhatsApp/Media/WhatsApp Images" "$m/Telegram/ChatExport_2026-12-01/photos" "$m/empty dir"
head -c 300000 /dev/urandom > "$m/WhatsApp/Databases/msgstore.db.crypt15"
for i in $(seq 1 40); do head -c $((1000 + i * 997)) /dev/urandom > "$m/WhatsApp/Media/WhatsApp Images/IMG-20261201-WA$(printf %04d $i).jpg"; done
printf 'hello\n' > "$m/Telegram/ChatExport_2026-12-01/messages.html"
: > "$m/Telegram/empty.txt"
printf 'zeros' | dd of="$m/sparse.bin" bs=1 seek=$((9 * 1024 * 1024)) conv=notrunc 2>/dev/null
head -c 70000 /dev/urandom | dd of="$m/sparse.bin" bs=1 conv=notrunc 2>/dev/null
if [[ $big == 1 ]]; then head -c $((4 * 1024 * 1024 + 10)) /dev/urandom > "$m/big.bin"; fi
ln -s "WhatsApp/Databases/msgstore.db.crypt15" "$m/latest-backup"
ln "$m/Telegram/ChatExport_2026-12-01/messages.html" "$m/Telegram/messages-hardlink.html"
printf 'caf\xc3\xa9 \xe2\x98\x95 na\xc3\xafve' > "$m/Telegram/ünïcödé name ☕.txt"
setfattr -n user.sealfs.note -v "frozen" "$m/Telegram/empty.txt"
chmod 0600 "$m/WhatsApp/Databases/msgstore.db.crypt15"
chmod 1777 "$m/empty dir"
touch -h -d '2026-12-01 03:00:00.123456789 UTC' "$m/Telegram/ChatExport_2026-12-01/messages.html"
# Format 2: special files and a big xattr (40 KiB of random bytes).
mkfifo -m 0620 "$m/WhatsApp/backup.fifo"
mknod -m 0640 "$m/null-device" c 1 3
setfattr -n user.sealfs.thumbnail -v "0x$(head -c 40960 /dev/urandom | od -An -tx1 -v | tr -d ' \n')" "$m/WhatsApp/Media/WhatsApp Images/IMG-20261201-WA0001.jpg"
# Format 3: identical content. The twins' bytes are made outside the
# mount and written into it with cat (plain writes, no copy_file_range).
# With big=0 each twin is written as its two pieces, the hole skipped.
mkdir -p "$m/Signal"
if [[ $big == 1 ]]; then
	head -c $((4 * 1024 * 1024 + 30000)) /dev/urandom > "$work/twin.bin"
	cat "$work/twin.bin" > "$m/Signal/signal-2026-12-01.backup"
	cat "$work/twin.bin" > "$m/Signal/signal-2026-12-01.backup.copy"
else
	head -c 70000 /dev/urandom > "$work/twin.0"
	head -c 30000 /dev/urandom > "$work/twin.1"
	for f in "$m/Signal/signal-2026-12-01.backup" "$m/Signal/signal-2026-12-01.backup.copy"; do
		cat "$work/twin.0" > "$f"
		dd if="$work/twin.1" of="$f" bs=30000 seek=$((4 * 1024 * 1024)) oflag=seek_bytes conv=notrunc 2>/dev/null
	done
fi
# Format 4: compressible text (messages of words from a small vocabulary),
# 300000 B, or 4 MiB + 300000 B with big=1; made outside the mount.
python3 - "$work/result.json" $(( big == 1 ? 4 * 1024 * 1024 + 300000 : 300000 )) <<'PY'
import json, random, sys
words = "hello see you tomorrow ok thanks photo sent call me later love dinner at eight where are you on my way".split()
out, n = [], int(sys.argv[2])
size, i = 0, 0
while size < n:
    m = json.dumps({"id": i, "from": random.choice(["Ana", "Ben", "Chloe"]), "text": " ".join(random.choices(words, k=random.randint(2, 12)))}) + ",\n"
    out.append(m); size += len(m); i += 1
open(sys.argv[1], "w").write("".join(out)[:n])
PY
cat "$work/result.json" > "$m/Telegram/ChatExport_2026-12-01/result.json"
head -c 3000 /dev/urandom > "$work/small-twin.jpg"
cat "$work/small-twin.jpg" > "$m/Telegram/ChatExport_2026-12-01/photos/photo_1@01-12-2026.jpg"
$bin umount "$m"
# A second day: the database is rewritten, an image deleted, a snapshot
# taken; day2.txt written, a second snapshot taken; a socket bound.
# Format 3: the second day's export repeats the first day's photo (before
# the first snapshot of the day).
$bin mount --daemon --compress --device frozen-laptop "$store" "$work/mnt"
mkdir -p "$m/Telegram/ChatExport_2026-12-02/photos"
cat "$work/small-twin.jpg" > "$m/Telegram/ChatExport_2026-12-02/photos/photo_1@01-12-2026.jpg"
head -c 300000 /dev/urandom > "$m/WhatsApp/Databases/msgstore.db.crypt15.tmp"
mv "$m/WhatsApp/Databases/msgstore.db.crypt15.tmp" "$m/WhatsApp/Databases/msgstore.db.crypt15"
rm "$m/WhatsApp/Media/WhatsApp Images/IMG-20261201-WA0007.jpg"
$bin snapshot --device frozen-laptop "$store" > "$out/snapshot.txt"
printf 'day two\n' > "$m/day2.txt"
$bin snapshot --device frozen-laptop "$store" > "$out/snapshot2.txt"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$m/Telegram/tdesktop.sock"
chmod 0600 "$m/Telegram/tdesktop.sock"
$bin umount "$m"
# The manifest of what the tree must hold: type, mode, size, sha256, link
# target, device numbers; and every extended attribute.
$bin mount --daemon --read-only "$store" "$work/mnt"
(cd "$m" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
	t=$(stat -c %F "$p"); mode=$(stat -c %a "$p")
	case "$t" in
	"regular file"|"regular empty file") printf 'file\t%s\t%s\t%s\t%s\n' "$p" "$mode" "$(stat -c %s "$p")" "$(sha256sum < "$p" | cut -d' ' -f1)" ;;
	directory) printf 'dir\t%s\t%s\n' "$p" "$mode" ;;
	"symbolic link") printf 'symlink\t%s\t%s\n' "$p" "$(readlink "$p")" ;;
	fifo) printf 'fifo\t%s\t%s\n' "$p" "$mode" ;;
	socket) printf 'socket\t%s\t%s\n' "$p" "$mode" ;;
	"character special file") printf 'chardev\t%s\t%s\t%d\t%d\n' "$p" "$mode" "0x$(stat -c %t "$p")" "0x$(stat -c %T "$p")" ;;
	"block special file") printf 'blockdev\t%s\t%s\t%d\t%d\n' "$p" "$mode" "0x$(stat -c %t "$p")" "0x$(stat -c %T "$p")" ;;
	*) printf 'other\t%s\t%s\n' "$p" "$t" ;;
	esac
done) > "$out/manifest.tsv"
(cd "$m" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
	{ getfattr -h -m - "$p" 2>/dev/null || true; } | sed -n '/^[^#]/p' | LC_ALL=C sort | while IFS= read -r name; do
		printf '%s\t%s\t%s\t%s\n' "$p" "$name" "$(getfattr -h -n "$name" --only-values "$p" | wc -c)" "$(getfattr -h -n "$name" --only-values "$p" | sha256sum | cut -d' ' -f1)"
	done
done) > "$out/xattrs.tsv"
stat -c '%y' "$m/Telegram/ChatExport_2026-12-01/messages.html" > "$out/mtime.txt"
$bin snapshots --json "$store" > "$out/snapshots.json"
$bin umount "$m"
rm -rf "$work" "$store/.sealfs"
