package main

import (
	"fmt"
	"io"
	"splitbrain/plugins/lockprotocol"
	"time"
)

// maxKeyBytes bounds the lock key; Redis takes far longer keys, splitbrain sends a short
// one.
const maxKeyBytes = 512

// The plug-in protocol lives in lockprotocol; these are its names here.
type (
	request  = lockprotocol.Request
	reply    = lockprotocol.Reply
	opBudget = lockprotocol.Budget
)

const (
	errHeld        = lockprotocol.ErrHeld
	errNotHolder   = lockprotocol.ErrNotHolder
	errUnsupported = lockprotocol.ErrUnsupported
	maxLineBytes   = lockprotocol.MaxLineBytes
)

var (
	okReply = lockprotocol.OK
	refusal = lockprotocol.Refusal
)

func parseRequest(line []byte) (request, *lockprotocol.ParseError) {
	return lockprotocol.ParseRequest(line, checkKey)
}

// serve answers requests from in until it closes (see lockprotocol.Serve).
func serve(p *plugin, in io.Reader, out io.Writer) error {
	return lockprotocol.Serve(in, out, checkKey, p.handle)
}

// checkKey says what is wrong with a lock key, or "". Redis keys are binary-safe: the
// key is used as it is.
func checkKey(key string) string {
	switch {
	case key == "":
		return "is empty"
	case len(key) > maxKeyBytes:
		return fmt.Sprintf("is longer than %d bytes", maxKeyBytes)
	}
	return ""
}

// budgetFor is the time budget of one request (lockprotocol.NewBudget). Each request is
// one script on the one Redis, with nothing to settle after it: it may use everything
// up to the answer deadline.
func budgetFor(opTimeout time.Duration) opBudget {
	return lockprotocol.NewBudget(opTimeout, 1)
}
