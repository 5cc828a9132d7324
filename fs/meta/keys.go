package meta

import (
	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
)

// DataKey is layout.DataKey, for tests written before the layout package.
//
// Deprecated: use layout.DataKey.
func DataKey(id crypt.ObjectID) string { return layout.DataKey(id) }
