// Command sealfs mounts an encrypted, tamper-evident backup folder whose
// contents live only as ciphertext in an S3 bucket or a local directory.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	args, err := helperArgs(os.Args) // as mount.fuse.sealfs: mounthelper.go
	if err != nil {
		printError(os.Stderr, err)
		os.Exit(exitCode(err))
	}
	if args == nil {
		os.Exit(exitOK) // mount -f: everything but the mount
	}
	os.Args = append(os.Args[:1:1], args...) // what a --daemon child runs again
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
