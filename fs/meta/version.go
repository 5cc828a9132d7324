package meta

// The payload versions this sealfs writes (docs/FORMAT.md), for 'sealfs
// version': the head and the journal batches and full snapshots.
const (
	HeadVersion  = headVersion
	BatchVersion = batchVersion
)
