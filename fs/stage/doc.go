// Package stage is a writer's staging area on this device's disk, in the
// vault's cache directory: sealed chunk objects waiting for upload, and a
// sealed intent log naming the metadata changes that were published but
// not yet committed (and the staged objects they need). With them, a
// kill -9, a power cut or an unmount while the bucket is down loses nothing
// that the writer had tried to commit: the next mount on the device
// uploads what is staged and commits it (fs does that, see fs/recover.go).
//
// Layout, under <cache dir>/stage (mode 0700, files 0600):
//
//	objects/<32 hex>   one sealed chunk object, byte for byte what goes to
//	                   the bucket under data/xx/<32 hex>
//	intent             the intent record (see Intent), sealed
//	*.tmp              a write in progress; removed by Open
//
// Every file is written whole to a temporary name and renamed. The intent
// is fsynced (and the directory after the rename); the objects it names
// are fsynced just before it is written (Sync), so an intent never names an
// object a crash could lose. docs/FORMAT.md ("Local staging") has every
// byte.
//
// What it must not do: write plaintext (object ids are random, chunk
// objects are sealed with the data key exactly as in the bucket, and the
// intent, which holds file names and metadata ops, is sealed with a key
// derived from Keys.Local); trust what it reads back (an intent that does
// not authenticate is an error wrapping crypt.ErrAuth; staged objects are
// authenticated by whoever reads them, like bucket objects).
package stage
