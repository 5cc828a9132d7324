package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func TestLoggingKeysAndSizesNeverData(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := faults.New(remote.NewMemory())
	s := remote.WithLogging(f, log)
	ctx := context.Background()
	secret := []byte("SECRET-CONTENT-must-not-be-logged")
	s.Put(ctx, "data/ab/obj1", secret, remote.PutOptions{IfNoneMatch: true})
	s.Get(ctx, "data/ab/obj1")
	s.GetRange(ctx, "data/ab/obj1", 3, 5)
	s.Stat(ctx, "missing")
	f.Inject(faults.Get, faults.Fail(errors.New("disk broke")))
	s.Get(ctx, "data/ab/obj1")
	out := buf.String()
	if strings.Contains(out, "SECRET") || strings.Contains(out, "CONTENT") {
		t.Fatalf("log holds object contents:\n%s", out)
	}
	for _, want := range []string{`"msg":"remote put"`, `"key":"data/ab/obj1"`, `"size":33`, `"if_none_match":true`,
		`"msg":"remote get_range"`, `"level":"WARN","msg":"remote get"`, `disk broke`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"level":"WARN","msg":"remote stat"`) {
		t.Errorf("a missing key was logged as a warning:\n%s", out)
	}
}

func TestSecretRedacts(t *testing.T) {
	o := remote.Options{SecretAccessKey: "hunter2"}
	for _, s := range []string{o.SecretAccessKey.String(), fmtAll(o)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret shown: %s", s)
		}
	}
}

func fmtAll(v any) string {
	var b strings.Builder
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		b.WriteString(sprintf(f, v))
	}
	return b.String()
}

var sprintf = fmt.Sprintf
