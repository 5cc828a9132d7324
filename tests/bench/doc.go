// Command bench measures sealfs where its users feel it, next to the raw S3
// ceiling of the same machine in the same run:
//
//	go run ./tests/bench [--quick] [--endpoint URL] [--profile DIR] [--only raw,seq,...]
//
// It starts a private MinIO on loopback (found or built like the tests'
// one, see remote/s3test) unless --endpoint names another S3 endpoint
// (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), and puts a
// counting reverse proxy in front of it, so that every figure comes with
// the requests and bytes it sent to the bucket. It builds cmd/sealfs and
// drives it like a user: "sealfs init", "sealfs mount --daemon", the work,
// "sealfs umount"; a write counts once umount returned, i.e. once it is
// durable in the bucket. Each workload gets a fresh bucket.
//
// Workloads: raw minio-go ceilings (parallel PUT and ranged GET of the big
// transfer as 4 MiB objects, PUT and GET of the small objects); sequential
// write of the big file, cold read on a fresh device; many small files in
// folders, written then read cold; rename of a folder of many files;
// random 4 KiB overwrites in the big file; SQLite inserts in transactions
// through the sqlite3 shell with an integrity check after remount; a chat
// backup (a database, log-uniform 50 KiB-5 MiB media, tiny files; the
// --restore-* flags) restored on fresh devices with "sealfs restore" and
// with cp -a out of a read-write mount, every byte checked, against a raw
// parallel GET of the vault's stored objects (restore.go); out-of-order
// pwrites; and "week" (week.go): five days of a phone's chat backups
// (WhatsApp, Signal, Telegram Desktop) landing in one mount, each day
// snapshotted, reporting uploads against the day's new distinct bytes, the
// bucket against the distinct bytes of the history and, after prune, of
// the live tree, and a restore checked by SHA-256; "dedup" (dedup.go):
// issue 21's sizes through a mount (cp of the big file and cp -r of a
// folder of photos inside it, a repeated 64 MiB file timed to fsync) and
// the keyed hash's CPU per MiB beside sealing; and "cdc" (cdc.go, no
// mount): the week and an edited SQLite database cut by fixed and
// content-defined (FastCDC) chunkers, distinct bytes and chunk counts;
// and "tree" (tree.go, issue 15): a folder of 100,000 files and a tree of
// 1,000,000 files in 1,000 folders, written with the engine offline and
// mounted on a fresh device: mount time, warm ls -l, find | wc -l and
// du -s, and the mount's memory per entry. It prints a table of each figure, its ratio to the raw ceiling and whether
// the target of docs/PERFORMANCE.md is met, then a table of the traffic and
// peak RSS of every phase.
//
// With --profile DIR the mounts run inside this process (fs.Mount) and each
// sealfs phase leaves a CPU profile (and a heap profile at its end) in DIR,
// for "go tool pprof".
//
// With --pin it stands in for a remote endpoint: MinIO and the counting
// proxy (then a child process) run on CPU 0, this program, the sealfs
// processes and the tools it runs on CPU 1, so that a ratio to the raw
// ceiling measures the client side, not how two cores were shared. Every
// run reads the big file cold twice more ways, through the default
// read-write mount (page cache) with 128 KiB reads, cp and sha256sum, and
// reports the mount process's CPU time per MiB (/proc/PID/stat) next to a
// floor measured in this process: AES-256-GCM over 64 KiB segments plus
// the two copies each byte takes through the mount, the least of a
// measurement before the run and one after the cold reads. --perf DIR records
// each phase's mount process with perf record -g.
//
// It needs root (or fusermount3) and /dev/fuse, like any sealfs mount.
// bench_test.go runs every workload at tiny sizes to keep it working.
package main
