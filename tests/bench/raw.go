package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sealfs/sealfs/crypt"
)

// rawObject is the object size of the raw transfer: sealfs's chunk size,
// so that raw and sealfs move the same number of objects.
const rawObject = crypt.DefaultChunkSize

// rawCeilings measures what minio-go alone reaches on this machine, with
// the same PUT options sealfs's S3 store uses, through the same proxy.
func rawCeilings(ctx context.Context, e *env, r *report) error {
	bucket, err := e.newBucket(ctx)
	if err != nil {
		return err
	}
	size := int64(e.cfg.SizeMiB) << 20
	n := int((size + rawObject - 1) / rawObject)
	p := newPattern()
	again := ""
	if len(r.ceilRuns[rowRawPut]) > 0 {
		again = " again"
	}
	d, err := e.measure(r, "raw PUT"+again, func() error {
		return parallel(ctx, n, e.cfg.Parallel, func(i int) error {
			buf := make([]byte, min(rawObject, size-int64(i)*rawObject))
			p.fill(buf, int64(i)*rawObject)
			return rawPut(ctx, e, bucket, fmt.Sprintf("big/%05d", i), buf)
		})
	})
	if err != nil {
		return err
	}
	r.addCeiling(rowRawPut, mbps(size, d), "MB/s", fmt.Sprintf("%d MiB as %d objects of 4 MiB, %d at a time", e.cfg.SizeMiB, n, e.cfg.Parallel))

	d, err = e.measure(r, "raw GET"+again, func() error {
		return parallel(ctx, n, e.cfg.Parallel, func(i int) error {
			length := min(rawObject, size-int64(i)*rawObject)
			return rawGet(ctx, e, bucket, fmt.Sprintf("big/%05d", i), length)
		})
	})
	if err != nil {
		return err
	}
	r.addCeiling(rowRawGet, mbps(size, d), "MB/s", fmt.Sprintf("ranged GETs of whole 4 MiB objects, %d at a time", e.cfg.Parallel))
	return rawSmall(ctx, e, r, bucket, p, again)
}

func rawSmall(ctx context.Context, e *env, r *report, bucket string, p pattern, again string) error {
	fsize := int64(e.cfg.FileKiB) << 10
	d, err := e.measure(r, "raw small PUT"+again, func() error {
		return parallel(ctx, e.cfg.Files, e.cfg.SmallPar, func(i int) error {
			buf := make([]byte, fsize)
			p.fill(buf, int64(i)*fsize)
			return rawPut(ctx, e, bucket, fmt.Sprintf("small/%05d", i), buf)
		})
	})
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%d objects of %d KiB, %d at a time", e.cfg.Files, e.cfg.FileKiB, e.cfg.SmallPar)
	r.addCeiling(rowRawSmallPut, float64(e.cfg.Files)/d.Seconds(), "objects/s", detail)
	d, err = e.measure(r, "raw small GET"+again, func() error {
		return parallel(ctx, e.cfg.Files, e.cfg.SmallPar, func(i int) error {
			return rawGet(ctx, e, bucket, fmt.Sprintf("small/%05d", i), fsize)
		})
	})
	if err != nil {
		return err
	}
	r.addCeiling(rowRawSmallGet, float64(e.cfg.Files)/d.Seconds(), "objects/s", detail)
	return nil
}

func rawPut(ctx context.Context, e *env, bucket, key string, data []byte) error {
	// The body unsigned, as sealfs sends it to a loopback endpoint
	// (remote.S3.Put): both sides pay the same per byte.
	_, err := e.client.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{DisableMultipart: true, ContentType: "application/octet-stream", DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("raw put %s: %w", key, err)
	}
	return nil
}

func rawGet(ctx context.Context, e *env, bucket, key string, length int64) error {
	var o minio.GetObjectOptions
	if err := o.SetRange(0, length-1); err != nil {
		return err
	}
	core := minio.Core{Client: e.client}
	rc, _, _, err := core.GetObject(ctx, bucket, key, o)
	if err != nil {
		return fmt.Errorf("raw get %s: %w", key, err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err == nil && n != length {
		err = fmt.Errorf("got %d bytes, want %d", n, length)
	}
	if err != nil {
		return fmt.Errorf("raw get %s: %w", key, err)
	}
	return nil
}

// measure times f and records its bucket traffic as a phase.
func (e *env) measure(r *report, name string, f func() error) (time.Duration, error) {
	t0 := e.proxy.snapshot()
	start := time.Now()
	err := f()
	d := time.Since(start)
	r.addPhase(phase{Name: name, Dur: d, T: e.proxy.snapshot().sub(t0)})
	return d, err
}

// parallel runs f(0..n-1) on k workers and returns the first error.
func parallel(ctx context.Context, n, k int, f func(i int) error) error {
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	for range min(k, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					ferr = cmpOr(ferr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return cmpOr(ferr, ctx.Err())
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
