package main

import (
	"fmt"
	"io"
	"splitbrain/plugins/lockprotocol"
	"strings"
)

// maxKeyBytes bounds the lock key; etcd takes far longer keys, splitbrain sends "lock".
const maxKeyBytes = 512

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

// checkKey says what is wrong with a lock key, or "". The mutex of key K lives under
// the etcd prefix mutexPrefix+K+"/", and its owner is the oldest key under that prefix:
// a "/" in K would put lock "a/b"'s keys under lock "a"'s prefix, so that one lock's
// holder would block, or be taken for the owner of, the other.
func checkKey(key string) string {
	switch {
	case key == "":
		return "is empty"
	case len(key) > maxKeyBytes:
		return fmt.Sprintf("is longer than %d bytes", maxKeyBytes)
	case strings.Contains(key, "/"):
		return `contains "/" (a lock's etcd prefix would hold another lock's keys)`
	case strings.ContainsRune(key, 0):
		return "contains a NUL byte"
	}
	return ""
}
