// Package s3test runs a real S3 server (MinIO) for tests of sealfs.
//
// A test binary starts at most one server, on a free loopback port with a
// temporary data directory and random root credentials; every test gets
// its own bucket. Packages that use it must stop the server when their
// tests end:
//
//	func TestMain(m *testing.M) { s3test.Main(m) }
//
// The MinIO binary is found at $SEALFS_MINIO, on $PATH, in $(go env
// GOPATH)/bin, or in the user cache directory; failing all that, the
// pinned release is built once with "go install" into the cache directory
// (about three minutes; concurrent test binaries wait for one build).
//
// With SEALFS_TEST_S3_ENDPOINT (and SEALFS_TEST_S3_ACCESS_KEY,
// SEALFS_TEST_S3_SECRET_KEY, SEALFS_TEST_S3_IFMATCH) the tests use that
// external S3 server instead of MinIO: tests/ceph.sh runs them on Ceph RGW.
// NewIfMatchProxy puts a proxy in front of the server that answers If-Match
// like Ceph RGW does (or refuses it always), to test without Ceph.
//
// When MinIO (or, for RequireFUSE, /dev/fuse) is unavailable, tests skip
// with the reason — unless SEALFS_STRICT=1 is set, as in CI, where they fail.
// This package must never be imported by non-test code.
package s3test
