package s3test

// StartServer starts a private MinIO server outside a test binary, found or
// built like Server's, on a free loopback port with random root credentials.
// It exists for the benchmark program (tests/bench), a development tool that
// is not shipped; the caller must call Close. Servers started here are
// independent of the one Server shares between the tests of a binary.
func StartServer() (*S3Server, error) {
	return start()
}

// Close stops a server returned by StartServer and removes its data. It
// must not be called on the server Server returns (Main stops that one).
func (s *S3Server) Close() {
	if s != nil && s.proc != nil {
		s.proc.stop()
	}
}
