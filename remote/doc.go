// Package remote is where sealfs keeps its objects: one Store interface
// (see its doc comment for the contract) and its implementations.
//
//   - S3: any S3-compatible bucket through minio-go, addressed as
//     s3://BUCKET[/PREFIX]. HTTPS by default; plain HTTP only to loopback
//     or when explicitly allowed. One PUT per object, sizes always known.
//   - Dir: a local directory laid out like the bucket, the embedded default
//     that needs no server.
//   - Memory: for tests.
//
// Behaviour that is not storage is added by wrappers around a Store rather
// than by copies of it: Retry (backoff for transient failures, careful with
// conditional puts), Logging (log/slog, keys and sizes only), and, for
// tests, remote/faults. Open builds the right stack from a location string
// and Options. SelfTestConditional checks, before the first conditional
// write, that a store honours conditional writes, which the lease and the
// head commit depend on; for S3 it also finds the If-Match form the store
// compares (IfMatchForm: quoted for MinIO, unquoted for Ceph RGW) and sets
// the store to it, so every compare-and-swap through it uses a proven form.
//
// What this package must not do: it never sees plaintext (callers put only
// sealed bytes) and must not cache object contents on local disk; it never
// logs object contents or credentials (Secret redacts itself); it never
// retries a conditional put without checking what the earlier try did.
//
// remote/storetest is the conformance suite every Store passes, and
// remote/s3test runs a real MinIO server for tests.
package remote
