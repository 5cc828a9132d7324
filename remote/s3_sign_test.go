package remote

import "testing"

// TestS3BodySigning: PUT bodies are hashed for SigV4 only over plain http
// to another host; on loopback and over https they go unsigned (the
// request through a loopback proxy: TestS3PutUnsignedOnLoopback).
func TestS3BodySigning(t *testing.T) {
	for _, c := range []struct {
		endpoint string
		insecure bool
		unsigned bool
	}{
		{"http://127.0.0.1:9000", false, true},
		{"http://localhost:9000", false, true},
		{"http://[::1]:9000", false, true},
		{"https://s3.example.com", false, true},
		{"http://s3.example.com", true, false},
		{"http://192.0.2.10:9000", true, false},
	} {
		s, err := NewS3("bucket", "", Options{Endpoint: c.endpoint, Insecure: c.insecure, AccessKeyID: "k", SecretAccessKey: "s"})
		if err != nil {
			t.Fatalf("%s: %v", c.endpoint, err)
		}
		if s.unsignedBody != c.unsigned {
			t.Errorf("%s (insecure %v): bodies unsigned = %v, want %v", c.endpoint, c.insecure, s.unsignedBody, c.unsigned)
		}
	}
}
