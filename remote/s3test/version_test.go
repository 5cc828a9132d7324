package s3test

import (
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
)

// The stores named in refusals and docs must include the MinIO the tests
// run: bumping minioVersion means updating remote.TestedStores (and the
// compatibility table in docs/OPERATIONS.md).
func TestTestedStoresNamesPinnedMinIO(t *testing.T) {
	commit := minioVersion[strings.LastIndex(minioVersion, "-")+1:]
	date := minioVersion[len("v0.0.0-") : len("v0.0.0-")+8]
	date = date[:4] + "-" + date[4:6] + "-" + date[6:]
	for _, want := range []string{commit, date} {
		if !strings.Contains(remote.TestedStores, want) {
			t.Errorf("remote.TestedStores %q does not name the pinned MinIO's %s (%s)", remote.TestedStores, want, minioVersion)
		}
	}
}
