package s3test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The MinIO release tests run against when none is installed. It is an
// external test server, built with "go install", never part of go.mod.
const (
	minioPackage = "github.com/minio/minio"
	minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

func srvCreds(s *S3Server) *credentials.Credentials {
	return credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")
}

// findMinIO looks in $SEALFS_MINIO, $PATH, $(go env GOPATH)/bin and the
// cache directory, and builds the pinned release into the cache directory
// as a last resort.
func findMinIO() (string, error) {
	if p := os.Getenv("SEALFS_MINIO"); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("SEALFS_MINIO=%s is not an executable file", p)
		}
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	for _, gp := range filepath.SplitList(goEnv("GOPATH")) {
		if p := filepath.Join(gp, "bin", "minio"); isExecutable(p) {
			return p, nil
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("%w, and no cache directory to build one in: %v", errNoMinIO, err)
	}
	return build(filepath.Join(cache, "sealfs-test"))
}

// build installs the pinned MinIO into dir/bin. A flock on dir/build.lock
// makes concurrent test binaries wait for one build instead of racing.
func build(dir string) (string, error) {
	bin := filepath.Join(dir, "bin", "minio")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		fmt.Fprintf(os.Stderr, "s3test: waiting for another test binary that is building MinIO (%s) ...\n", lock.Name())
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if isExecutable(bin) { // another test binary built it while we waited
		return bin, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w, and no go command to build one: %v", errNoMinIO, err)
	}
	fmt.Fprintf(os.Stderr, "s3test: building pinned MinIO server (one-time, about 3 minutes) into %s ...\n", bin)
	tmp, err := os.MkdirTemp("", "sealfs-minio-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	cmd := exec.Command(goCmd, "install", minioPackage+"@"+minioVersion)
	cmd.Dir = tmp // outside any module: never touches sealfs's go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Join(dir, "bin"), "GOFLAGS=-mod=mod", "GOWORK=off", "GO111MODULE=on")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w, and building %s@%s failed: %v: %s", errNoMinIO, minioPackage, minioVersion, err, tail(out))
	}
	fmt.Fprintf(os.Stderr, "s3test: built MinIO in %s\n", time.Since(start).Round(time.Second))
	return bin, nil
}

func goEnv(name string) string {
	if out, err := exec.Command("go", "env", name).Output(); err == nil {
		if v := strings.TrimSpace(string(out)); v != "" {
			return v
		}
	}
	if v := os.Getenv(name); v != "" {
		return v
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return s
}
