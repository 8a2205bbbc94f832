package main

import (
	"io"
	"splitbrain/plugins/lockprotocol"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The plug-in protocol lives in lockprotocol; these are its names here.
type (
	request    = lockprotocol.Request
	reply      = lockprotocol.Reply
	parseError = lockprotocol.ParseError
	opBudget   = lockprotocol.Budget
)

const (
	errHeld        = lockprotocol.ErrHeld
	errNotHolder   = lockprotocol.ErrNotHolder
	errUnsupported = lockprotocol.ErrUnsupported
	maxTTLMillis   = lockprotocol.MaxTTLMillis
	maxLineBytes   = lockprotocol.MaxLineBytes
)

var (
	okReply  = lockprotocol.OK
	okToken  = lockprotocol.OKToken
	refusal  = lockprotocol.Refusal
	encode   = lockprotocol.Encode
	readLine = lockprotocol.ReadLine
	truncate = lockprotocol.Truncate
)

func parseRequest(line []byte) (request, *parseError) {
	return lockprotocol.ParseRequest(line, checkKey)
}

// serve answers requests from in until it closes (see lockprotocol.Serve).
func serve(p *plugin, in io.Reader, out io.Writer) error {
	return lockprotocol.Serve(in, out, checkKey, p.handle)
}

// checkKey says what is wrong with a lock key, or "": it names a Lease, so it must be a
// DNS-1123 subdomain.
func checkKey(key string) string {
	if msgs := validation.IsDNS1123Subdomain(key); len(msgs) > 0 {
		return "is not a valid Lease name: " + strings.Join(msgs, "; ")
	}
	return ""
}
