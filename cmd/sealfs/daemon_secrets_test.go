package main

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDaemonEnvironmentHasNoSecrets: a --daemon mount unlocked from the
// environment keeps none of the secret variables, nor their values, in its
// initial environment (/proc/PID/environ, which never changes) or its
// arguments; the rest of the environment is inherited.
func TestDaemonEnvironmentHasNoSecrets(t *testing.T) {
	requireRootFUSE(t)
	const passphrase, newPassphrase = "the passphrase of the daemon test", "a new passphrase never used"
	p := newSealfsProc(t)
	store, rk := p.initVault(passphrase)
	cache := t.TempDir()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		secrets []string
	}{
		{"passphrase", map[string]string{envPassphrase: passphrase, envNewPassphrase: newPassphrase}, []string{passphrase, newPassphrase}},
		{"recovery key", map[string]string{envRecoveryKey: rk}, []string{rk}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SEALFS_TEST_MARKER": "inherited"}
			for k, v := range tc.env {
				env[k] = v
			}
			mnt := p.mountDaemon(store, env, "--cache-dir", cache)
			pid := strconv.Itoa(servingPID(t, mnt))
			environ, err := os.ReadFile("/proc/" + pid + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			vars := strings.Split(string(environ), "\x00")
			if !slices.Contains(vars, daemonEnv+"=1") || !slices.Contains(vars, "SEALFS_TEST_MARKER=inherited") {
				t.Fatalf("pid %s is not the daemon child, or the environment was not inherited: %q", pid, vars)
			}
			for _, kv := range vars {
				name, _, _ := strings.Cut(kv, "=")
				if slices.Contains(secretEnv, name) {
					t.Errorf("the daemon's environment holds %s", name)
				}
			}
			cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.secrets {
				if bytes.Contains(environ, []byte(s)) {
					t.Errorf("the daemon's environment holds the secret %q", s)
				}
				if bytes.Contains(cmdline, []byte(s)) {
					t.Errorf("the daemon's arguments hold the secret %q", s)
				}
			}
			p.run(nil, "umount", mnt)
		})
	}
}
