package main

import (
	"slices"
	"strings"
	"testing"
)

func TestHelperArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // nil: a usage error
	}{
		{[]string{"/usr/local/bin/sealfs", "info", "s"}, []string{"info", "s"}},
		{[]string{"/sbin/mount.fuse.sealfs", "s3://b/p", "/mnt/x", "-o", "rw,noauto,_netdev,x-systemd.automount,passphrase_file=/etc/p,device=nas,ro"},
			[]string{"mount", "--daemon", "--passphrase-file=/etc/p", "--device=nas", "--read-only", "s3://b/p", "/mnt/x"}},
		{[]string{"mount.sealfs", "sealfs#/srv/store", "/mnt/x", "-n", "-oallow_other", "-o", "commit_interval=10s"},
			[]string{"mount", "--daemon", "--allow-other", "--commit-interval=10s", "/srv/store", "/mnt/x"}},
		{[]string{"mount.sealfs", "/s", "/m", "-s", "-o", "bogus,device=d"}, []string{"mount", "--daemon", "--device=d", "/s", "/m"}},
		{[]string{"mount.sealfs", "/s", "/m", "-o", "bogus"}, nil},
		{[]string{"mount.sealfs", "/s", "/m", "-o", "device"}, nil}, // a value option without its value
		{[]string{"mount.sealfs", "/s", "/m", "-o", "ro=yes"}, nil}, // a flag with a value
		{[]string{"mount.sealfs", "/s"}, nil},                       // no mountpoint
		{[]string{"mount.sealfs", "/s", "/m", "-x"}, nil},           // unknown flag
		{[]string{"mount.sealfs", "/s", "/m", "-o"}, nil},           // -o without options
	} {
		got, err := helperArgs(tc.args)
		if tc.want == nil {
			if err == nil || exitCode(err) != exitUsage {
				t.Errorf("%q: want a usage error, got %q, %v", tc.args, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q:\n got %q, %v\nwant %q", tc.args, got, err, tc.want)
		}
	}
	if got, err := helperArgs([]string{"mount.sealfs", "/s", "/m", "-f"}); err != nil || got != nil {
		t.Errorf("-f (fake): want nothing to run, got %q, %v", got, err)
	}
	_, err := helperArgs([]string{"mount.sealfs", "/s", "/m", "-o", "bogus"})
	if !strings.Contains(err.Error(), "passphrase_file=...") {
		t.Errorf("the error does not list the options: %v", err)
	}
}
