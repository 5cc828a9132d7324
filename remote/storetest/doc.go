// Package storetest is the one conformance suite every remote.Store passes:
// each line of the Store contract is a case here, run against the memory,
// directory and S3 stores (S3 against a real MinIO server) and against the
// wrappers. Bench measures the stores the same way so their numbers
// compare.
//
//	func TestDir(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) remote.Store { ... })
//	}
//
// newStore must return an empty store; each case gets its own.
package storetest
