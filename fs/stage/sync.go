package stage

import (
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/diskio"
)

// syncObjects fsyncs the objects that are still staged (one uploaded and
// removed meanwhile needs nothing: while the bucket answers, that is most
// of them), a few at a time so the file system can batch its journal
// commits, then the directory for their names.
func (d *Dir) syncObjects(ids []crypt.ObjectID) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 8)
	)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fsyncFile(d.objectPath(id)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return diskio.SyncDir(filepath.Join(d.path, objectsDir))
}

func fsyncFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
