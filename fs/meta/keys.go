package meta

import (
	"encoding/hex"

	"github.com/sealfs/sealfs/crypt"
)

// DataKey is the store key of a chunk object: "data/<first 2 hex>/<32 hex>".
// The two-digit fan-out keeps directory stores and S3 listings shallow.
func DataKey(id crypt.ObjectID) string {
	h := hex.EncodeToString(id[:])
	return "data/" + h[:2] + "/" + h
}
