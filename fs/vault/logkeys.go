package vault

// Log attribute keys that carry plaintext: names and paths inside the
// vault. A log line of this package (and of its subpackages) that names a
// file does so under one of these keys and no other, and never inside an
// error's text, so that a logger which must not reveal names can redact
// exactly these (PlaintextLogKey): the CLI does, unless --verbose. Other
// attributes carry no plaintext: object ids, inode numbers, sizes, counts,
// sequence numbers, device names, times, paths on local disk, and the
// name of a recovery folder (RecoveredDir and a time).
const (
	LogPath  = "path"  // one path inside the vault
	LogPaths = "paths" // a list of paths inside the vault
)

// PlaintextLogKey reports whether attributes under key carry plaintext.
func PlaintextLogKey(key string) bool {
	return key == LogPath || key == LogPaths
}
