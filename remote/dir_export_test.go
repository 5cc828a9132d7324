package remote

// WithoutXattrs makes d's Puts act as on a file system without user
// xattrs: they set no ETag attribute.
func WithoutXattrs(d *Dir) { d.noXattr = true }
