package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealfs/sealfs/fs/meta"
)

// lsEntry is one name as 'sealfs ls --json' prints it: exactly these keys
// (docs/OPERATIONS.md, "Reading without mounting").
type lsEntry struct {
	Path   string `json:"path"`             // inside the vault, "/" separated, no leading "/"
	Type   string `json:"type"`             // "file", "dir", "symlink" or "other"
	Mode   string `json:"mode"`             // permission bits, octal: "0644"
	Size   uint64 `json:"size"`             // bytes (a symlink: its target's length)
	Mtime  string `json:"mtime"`            // RFC 3339 with nanoseconds, UTC
	UID    uint32 `json:"uid"`              //
	GID    uint32 `json:"gid"`              //
	Nlink  uint32 `json:"nlink"`            // names of the inode
	Target string `json:"target,omitempty"` // a symlink's target
}

func newLsEntry(p string, in meta.Inode) lsEntry {
	return lsEntry{
		Path: p, Type: fileType(in.Mode), Mode: fmt.Sprintf("%04o", in.Mode&0o7777), Size: in.Size,
		Mtime: time.Unix(0, in.Mtime).UTC().Format(time.RFC3339Nano), UID: in.Uid, GID: in.Gid, Nlink: in.Nlink,
		Target: in.Target,
	}
}

func (a *app) lsCommand() *cobra.Command {
	var o readOptions
	var long, recursive, asJSON bool
	cmd := &cobra.Command{
		Use:   "ls STORE [PATH]",
		Short: "List the vault's files, without FUSE",
		Long: `ls lists the folder PATH of the vault (its root without PATH), or names the
file PATH, with no FUSE and without writing to the store. -R lists the whole
subtree, one path per line; -l adds the mode, owner, size and modification
time; --json prints a JSON array of {path, type, mode, size, mtime, uid, gid,
nlink, target}.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErr("ls needs STORE and at most one PATH (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := a.openReader(ctx, args[0], o)
			if err != nil {
				return err
			}
			defer r.close(context.WithoutCancel(ctx))
			p := ""
			if len(args) == 2 {
				p = args[1]
			}
			ents, err := r.list(p, recursive)
			if err != nil {
				return err
			}
			if asJSON {
				if ents == nil {
					ents = []lsEntry{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ents)
			}
			return printLs(a.stdout, ents, long)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&long, "long", "l", false, "show mode, owner, size and modification time")
	f.BoolVarP(&recursive, "recursive", "R", false, "list the whole subtree, one path per line")
	f.BoolVar(&asJSON, "json", false, "print a JSON array of {path, type, mode, size, mtime, uid, gid, nlink, target}")
	o.addFlags(cmd)
	return cmd
}

// list returns the entries of folder p (the whole subtree with
// recursive), or p itself when it is not a folder. Paths are relative to
// the vault's root.
func (r *reader) list(p string, recursive bool) ([]lsEntry, error) {
	in, clean, err := r.resolve(p)
	if err != nil {
		return nil, err
	}
	if !in.IsDir() {
		return []lsEntry{newLsEntry(clean, in)}, nil
	}
	var out []lsEntry
	var walk func(dir meta.Ino, prefix string) error
	walk = func(dir meta.Ino, prefix string) error {
		ents, err := r.v.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("listing %q: %w", prefix, err)
		}
		for _, e := range ents {
			child, err := r.v.Getattr(e.Ino)
			if err != nil {
				return fmt.Errorf("reading %q: %w", path.Join(prefix, e.Name), err)
			}
			cp := path.Join(prefix, e.Name)
			out = append(out, newLsEntry(cp, child))
			if recursive && child.IsDir() {
				if err := walk(e.Ino, cp); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(in.Ino, clean)
}

// printLs prints entries one a line: the path, or with long the mode,
// owner, size and time first.
func printLs(w io.Writer, ents []lsEntry, long bool) error {
	bw := bufio.NewWriter(w)
	for _, e := range ents {
		name := e.Path
		if e.Type == "dir" {
			name += "/"
		}
		if !long {
			fmt.Fprintln(bw, name)
			continue
		}
		mt, _ := time.Parse(time.RFC3339Nano, e.Mtime)
		if e.Target != "" {
			name += " -> " + e.Target
		}
		fmt.Fprintf(bw, "%s %3d %5d %5d %12d %s %s\n", modeString(e), e.Nlink, e.UID, e.GID, e.Size, mt.Local().Format("2006-01-02 15:04:05"), name)
	}
	return bw.Flush()
}

// modeString is the mode as ls -l shows it: "drwxr-xr-x".
func modeString(e lsEntry) string {
	var m uint32
	fmt.Sscanf(e.Mode, "%o", &m)
	fm := os.FileMode(m & 0o777)
	switch e.Type {
	case "dir":
		fm |= os.ModeDir
	case "symlink":
		fm |= os.ModeSymlink
	}
	s := []byte(fm.String())
	if len(s) == 11 { // os.FileMode prints "L" for symlinks, "d" for folders
		s = s[1:]
	}
	switch e.Type {
	case "symlink":
		s[0] = 'l'
	case "fifo":
		s[0] = 'p'
	case "socket":
		s[0] = 's'
	case "char-device":
		s[0] = 'c'
	case "block-device":
		s[0] = 'b'
	}
	return string(s)
}

func (a *app) catCommand() *cobra.Command {
	var o readOptions
	cmd := &cobra.Command{
		Use:   "cat STORE PATH",
		Short: "Write one file of the vault to stdout, without FUSE",
		Long: `cat writes the file PATH of the vault to stdout, every byte authenticated
first, with no FUSE and without writing to the store. Data that does not
authenticate stops it with exit 12 (what came before it was authentic).`,
		Args: exactArgs(2, "STORE and PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := a.openReader(ctx, args[0], o)
			if err != nil {
				return err
			}
			defer r.close(context.WithoutCancel(ctx))
			return r.cat(ctx, args[1], a.stdout)
		},
	}
	o.addFlags(cmd)
	return cmd
}

// cat writes file p to w.
func (r *reader) cat(ctx context.Context, p string, w io.Writer) error {
	in, clean, err := r.resolve(p)
	if err != nil {
		return err
	}
	switch {
	case in.IsDir():
		return withCode(exitUsage, fmt.Errorf("%q is a folder", p), "list it with 'sealfs ls', or copy it out with 'sealfs restore'")
	case in.IsSymlink():
		return withCode(exitUsage, fmt.Errorf("%q is a symbolic link to %q", p, in.Target), "cat its target instead")
	case !in.IsRegular():
		return withCode(exitUsage, fmt.Errorf("%q is not a regular file", p), "")
	}
	h, err := r.v.OpenFile(in.Ino, uint32(os.O_RDONLY))
	if err != nil {
		return err
	}
	defer h.Release()
	buf := make([]byte, 1<<20)
	defer clear(buf)
	for off := int64(0); off < int64(in.Size); {
		n, err := h.ReadAt(ctx, buf, off)
		if err != nil {
			if isDamage(err) {
				return withCode(exitDamage, fmt.Errorf("%s: %w", clean, readErr(err)), "an earlier snapshot may hold it: see 'sealfs snapshots', then add --snapshot ID; or use another copy of the store")
			}
			return fmt.Errorf("reading %s: %w", clean, err)
		}
		if n == 0 {
			return withCode(exitDamage, fmt.Errorf("%s ends at %d bytes, before its size %d", clean, off, in.Size), "")
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}
