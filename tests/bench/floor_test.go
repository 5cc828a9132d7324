package main

import "testing"

// TestFloor checks that the floor is measured (positive times; their
// values are not asserted: timings on a shared machine are not).
func TestFloor(t *testing.T) {
	fl := measureFloor()
	if fl.Seal <= 0 || fl.Open <= 0 || fl.Copy <= 0 {
		t.Fatalf("floor %+v: want positive times", fl)
	}
	t.Log(fl)
}
