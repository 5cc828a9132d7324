package remote

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// IfMatchForm is how a compare-and-swap put writes the expected ETag into
// its If-Match header. HTTP (RFC 9110) and MinIO take the quoted entity
// tag; Ceph RGW 16.2 answers that form with 412 even when the ETag is
// current, and compares only the bare ETag (DigitalOcean Spaces, which runs
// on Ceph, is reported to do the same). MinIO honours both.
type IfMatchForm uint32

const (
	// IfMatchQuoted sends If-Match: "<etag>", as HTTP specifies; the
	// default until SelfTestConditional chose a form.
	IfMatchQuoted IfMatchForm = iota
	// IfMatchUnquoted sends If-Match: <etag>, the form Ceph RGW compares.
	IfMatchUnquoted
)

// ifMatchForms are the forms SelfTestConditional tries, in this order.
var ifMatchForms = []IfMatchForm{IfMatchQuoted, IfMatchUnquoted}

func (f IfMatchForm) String() string {
	switch f {
	case IfMatchQuoted:
		return `quoted (If-Match: "<etag>")`
	case IfMatchUnquoted:
		return "unquoted (If-Match: <etag>)"
	}
	return fmt.Sprintf("IfMatchForm(%d)", uint32(f))
}

// IfMatchFormSetter is a store that can send If-Match in more than one
// form (S3). SelfTestConditional finds it with As, under any wrappers, and
// sets the form it proved; every later compare-and-swap of that store uses
// it. Safe for concurrent use.
type IfMatchFormSetter interface {
	SetIfMatchForm(IfMatchForm)
	IfMatchForm() IfMatchForm
}

var _ IfMatchFormSetter = (*S3)(nil)

// SetIfMatchForm makes every later Put with PutOptions.IfMatch send form f.
func (s *S3) SetIfMatchForm(f IfMatchForm) { s.ifMatch.Store(uint32(f)) }

// IfMatchForm is the form Put sends If-Match in.
func (s *S3) IfMatchForm() IfMatchForm { return IfMatchForm(s.ifMatch.Load()) }

// putUnquoted is Put for IfMatchUnquoted. minio-go quotes every If-Match
// it sends and has no other way to set the header, so this one request is
// presigned by minio-go (same credentials, region and addressing as every
// other request) with If-Match and Content-MD5 among the signed headers,
// and sent on the store's transport.
func (s *S3) putUnquoted(ctx context.Context, key string, data []byte, opts PutOptions) (string, error) {
	sum := md5.Sum(data)
	h := http.Header{}
	h.Set("If-Match", opts.IfMatch)
	if opts.IfNoneMatch {
		h.Set("If-None-Match", "*")
	}
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	h.Set("Content-Type", "application/octet-stream")
	u, err := s.client.PresignHeader(ctx, http.MethodPut, s.bucket, s.prefix+key, 15*time.Minute, nil, h)
	if err != nil {
		return "", s.mapErr("put", key, err, true)
	}
	lent := &loan{data: data}
	defer lent.end()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), lent.reader())
	if err != nil {
		return "", fmt.Errorf("remote: put %q: %w", key, err)
	}
	req.ContentLength = int64(len(data))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(lent.reader()), nil }
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", s.mapErr("put", key, err, true)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", s.mapErr("put", key, markTransient(err), true)
	}
	if resp.StatusCode/100 != 2 {
		return "", s.mapErr("put", key, errorResponse(resp, body), true)
	}
	return strings.Trim(resp.Header.Get("ETag"), `"`), nil
}

// errorResponse reads an S3 error response the way minio-go would, so
// that mapErr treats it like any other.
func errorResponse(resp *http.Response, body []byte) minio.ErrorResponse {
	var er minio.ErrorResponse
	_ = xml.Unmarshal(body, &er) // a body that is not S3 XML leaves only the status
	er.StatusCode = resp.StatusCode
	if er.Code == "" {
		switch resp.StatusCode {
		case http.StatusPreconditionFailed:
			er.Code = minio.PreconditionFailed
		case http.StatusNotFound:
			er.Code = minio.NoSuchKey
		default:
			er.Code = http.StatusText(resp.StatusCode)
		}
	}
	if er.Message == "" {
		er.Message = http.StatusText(resp.StatusCode)
	}
	return er
}
