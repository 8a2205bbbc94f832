package main

import (
	"errors"
	"fmt"

	"github.com/bsm/redislock"
)

// An outcome is the answer to a request that redislock failed.
type outcome struct {
	definite bool
	err      string // the reply's error: errHeld, errNotHolder or an explanation
	libErr   error  // what redislock returned
}

// classifyObtain: ErrNotObtained is the script's "the key is someone else's" (definite
// "held"); an error that proves the script never ran is a definite refusal; any other
// error (a timeout, a reset connection) leaves unknown whether the script set the key.
func classifyObtain(err error) outcome {
	if errors.Is(err, redislock.ErrNotObtained) {
		return outcome{definite: true, err: errHeld, libErr: err}
	}
	return failed("obtain", err)
}

// classifyRefresh: Refresh answers ErrNotObtained (not ErrLockNotHeld) when the key no
// longer holds our token: definite "not-holder".
func classifyRefresh(err error) outcome {
	if errors.Is(err, redislock.ErrNotObtained) || errors.Is(err, redislock.ErrLockNotHeld) {
		return outcome{definite: true, err: errNotHolder, libErr: err}
	}
	return failed("refresh", err)
}

// classifyRelease: ErrLockNotHeld is the script's "the key is not ours, or gone":
// definite "not-holder".
func classifyRelease(err error) outcome {
	if errors.Is(err, redislock.ErrLockNotHeld) {
		return outcome{definite: true, err: errNotHolder, libErr: err}
	}
	return failed("release", err)
}

// failed classifies an error other than redislock's own refusals by what it proves.
func failed(what string, err error) outcome {
	if notRun(err) {
		return outcome{definite: true, err: fmt.Sprintf("%s not run: %v", what, err), libErr: err}
	}
	return outcome{definite: false, err: fmt.Sprintf("%s outcome unknown: %v", what, err), libErr: err}
}
