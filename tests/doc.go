// Package tests holds sealfs's end-to-end tests: the real sealfs binary, real
// FUSE mounts and a real S3 server (MinIO, started by the tests). They run as
// part of 'go test ./...'; with SEALFS_STRICT=1 (as in CI) a missing MinIO or
// /dev/fuse fails them instead of skipping.
package tests
