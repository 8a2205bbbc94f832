package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	goredislib "github.com/redis/go-redis/v9"
)

// An answer is what one primary's reply (or error) proves about one command.
type answer int

const (
	// yes: the command did what was asked (SET NX set the key; the delete or extend
	// script found the key ours and deleted or extended it).
	yes answer = iota
	// no: it ran and changed nothing (the key was someone else's, or gone).
	no
	// refused: it did not run (an error reply, a connection that was never made).
	refused
	// unanswered: no reply (a timeout, a reset connection): it may have run.
	unanswered
)

// answerOf reads one command as redsync does (SET NX: true is set; the scripts: 0 is
// "not ours", -1 is "gone", anything else is done), and its error by what it proves.
func answerOf(c command) answer {
	if c.err != nil {
		if notRun(c.err) {
			return refused
		}
		return unanswered
	}
	switch v := c.reply.(type) {
	case bool:
		if v {
			return yes
		}
		return no
	case int64:
		if v == 0 || v == -1 {
			return no
		}
	}
	return yes
}

// notRun reports whether err proves that the command never ran on the primary:
//
//   - an error reply (a redis.Error: LOADING, MISCONF, OOM, BUSY, READONLY, a script
//     error): SET NX writes nothing when it fails, and redsync's scripts write only in
//     their last call, so no error can follow a write;
//   - a failed dial (*net.OpError "dial"): there was no connection to send it on; once
//     as many dials failed as the pool has connections, go-redis answers the last dial
//     error without dialing;
//   - the pool gave no connection (pool timeout or exhausted, client closed).
//
// Any other error came after the command may have been written (a read timeout, a reset
// or closed connection, the context's deadline): it may have run. go-redis sends a
// command once (MaxRetries -1), so an error is about its only attempt.
func notRun(err error) bool {
	var reply goredislib.Error
	if errors.As(err, &reply) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, goredislib.ErrPoolTimeout) || errors.Is(err, goredislib.ErrPoolExhausted) ||
		errors.Is(err, goredislib.ErrClosed)
}

// nodeCommands is, per primary, the request's commands of one name (in the order they
// were answered).
func nodeCommands(cmds []command, nodes int, name string) [][]command {
	out := make([][]command, nodes)
	for _, c := range cmds {
		if c.name == name && c.node >= 0 && c.node < nodes {
			out[c.node] = append(out[c.node], c)
		}
	}
	return out
}

// A tally counts, over the primaries, the answers to one round of a request.
type tally struct {
	nodes, quorum int
	count         [unanswered + 1]int
	problems      []string // one per error, naming the primary
}

func newTally(nodes int) tally { return tally{nodes: nodes, quorum: nodes/2 + 1} }

func (t *tally) add(a answer, c command, addrs []string) {
	t.count[a]++
	if c.err != nil {
		t.problems = append(t.problems, fmt.Sprintf("%s: %s: %s", nodeName(c.node, addrs), c.name, oneLine(c.err)))
	}
}

// addMissing counts a primary that answered nothing of the round (redsync asks every
// primary, so this means the command was never recorded): it may have run.
func (t *tally) addMissing(node int, name string, addrs []string) {
	t.count[unanswered]++
	t.problems = append(t.problems, fmt.Sprintf("%s: %s: no answer recorded", nodeName(node, addrs), name))
}

// ruledOut reports whether n primaries answering "not ours" leave too few for a
// majority: the lock is not ours (or, for a SET NX, someone else's majority stands).
func (t tally) ruledOut(n int) bool { return n > t.nodes-t.quorum }

// allAnswered reports whether every primary answered (no error at all).
func (t tally) allAnswered() bool { return len(t.problems) == 0 }

func (t tally) describe(yesWord, noWord string) string {
	s := fmt.Sprintf("%s %d, %s %d, refused %d, unanswered %d of %d (quorum %d)",
		yesWord, t.count[yes], noWord, t.count[no], t.count[refused], t.count[unanswered], t.nodes, t.quorum)
	if len(t.problems) > 0 {
		s += "; " + strings.Join(t.problems, "; ")
	}
	return s
}

func nodeName(node int, addrs []string) string {
	if node >= 0 && node < len(addrs) {
		return fmt.Sprintf("node #%d (%s)", node, addrs[node])
	}
	return fmt.Sprintf("node #%d", node)
}

// A verdict is the answer to a request that did not succeed.
type verdict struct {
	definite bool
	err      string // the reply's error: errHeld, errNotHolder or an explanation
	tally    string // what the primaries answered, for the log
	// routine: a definite "held" or "not-holder" that every primary answered, the
	// everyday refusal of a lock in use; not worth a line in the log.
	routine bool
}

// acquireVerdict judges a TryLock that failed, from every primary's answer to its SET NX
// and to the clean-up that redsync sends after a failed attempt (a delete of the key if
// it still holds our value on a primary, errors ignored).
//
// A primary may still hold this attempt's key when its SET NX set it and the clean-up
// got no answer, or when its SET NX got no answer and the clean-up did not delete our
// key: an unanswered SET NX may still be on its way (on a connection go-redis closed,
// while the clean-up ran on another), so a clean-up that found no key proves nothing.
// Only a clean-up that deleted our key settles it. If fewer primaries than a quorum may
// hold the key, the attempt holds no majority, now or later: the refusal is definite,
// "held" when the primaries that found another holder's key alone rule a majority out.
// Otherwise the attempt may hold the lock, unknown to anyone, until its keys expire.
func acquireVerdict(cmds []command, addrs []string) verdict {
	nodes := len(addrs)
	sets, cleanups := nodeCommands(cmds, nodes, "SET NX"), nodeCommands(cmds, nodes, "EVAL")
	t := newTally(nodes)
	mayHold := 0
	for i := range nodes {
		if len(sets[i]) == 0 {
			t.addMissing(i, "SET NX", addrs)
			mayHold++
			continue
		}
		set := answerOf(sets[i][0])
		t.add(set, sets[i][0], addrs)
		cleanup := unanswered
		if len(cleanups[i]) > 0 {
			cleanup = answerOf(cleanups[i][len(cleanups[i])-1])
		}
		switch {
		case set == yes && cleanup != yes && cleanup != no:
			mayHold++
		case set == unanswered && cleanup != yes:
			mayHold++
		}
	}
	counts := "SET NX " + t.describe("set", "taken")
	switch {
	case mayHold >= t.quorum:
		return verdict{definite: false, tally: counts,
			err: fmt.Sprintf("acquire outcome unknown: %d primaries may hold this attempt's key, a quorum is %d: %s", mayHold, t.quorum, counts)}
	case t.ruledOut(t.count[no]):
		return verdict{definite: true, err: errHeld, tally: counts, routine: t.allAnswered()}
	}
	return verdict{definite: true, tally: counts, err: "not acquired: " + counts}
}

// releaseVerdict judges an UnlockContext that deleted our key on fewer than a quorum.
// Deleted or unanswered on a quorum: the lock may have been ours and released, unknown.
// Not ours on more primaries than a majority can spare: definite "not-holder" (redsync's
// ErrLockAlreadyExpired is one primary's "gone"; alone it proves nothing about the
// others). Otherwise no majority answered either way, and no quorum was deleted: a
// definite refusal naming the primaries.
func releaseVerdict(cmds []command, addrs []string) verdict {
	t := roundTally(cmds, addrs, "EVAL")
	counts := t.describe("deleted", "not ours")
	switch {
	case t.count[yes]+t.count[unanswered] >= t.quorum:
		return verdict{definite: false, tally: counts, err: "release outcome unknown: " + counts}
	case t.ruledOut(t.count[no]):
		return verdict{definite: true, err: errNotHolder, tally: counts, routine: t.allAnswered()}
	}
	return verdict{definite: true, tally: counts, err: "release reached no quorum: " + counts}
}

// renewVerdict judges an ExtendContext that failed. redsync's ErrExtendFailed means a
// quorum extended our key but the round took longer than the validity it would grant:
// the renew took effect, too late to count on (indefinite). Otherwise as release:
// extended or unanswered on a quorum is unknown, a majority ruled out is "not-holder".
func renewVerdict(cmds []command, addrs []string, extendFailed bool) verdict {
	t := roundTally(cmds, addrs, "EVAL")
	counts := t.describe("extended", "not ours")
	switch {
	case extendFailed:
		return verdict{definite: false, tally: counts, err: "renew took effect too late, past the validity it grants: " + counts}
	case t.count[yes]+t.count[unanswered] >= t.quorum:
		return verdict{definite: false, tally: counts, err: "renew outcome unknown: " + counts}
	case t.ruledOut(t.count[no]):
		return verdict{definite: true, err: errNotHolder, tally: counts, routine: t.allAnswered()}
	}
	return verdict{definite: true, tally: counts, err: "renew reached no quorum: " + counts}
}

// roundTally counts one round of a command that redsync sends once to every primary.
func roundTally(cmds []command, addrs []string, name string) tally {
	per := nodeCommands(cmds, len(addrs), name)
	t := newTally(len(addrs))
	for i, cs := range per {
		if len(cs) == 0 {
			t.addMissing(i, name, addrs)
			continue
		}
		c := cs[len(cs)-1]
		t.add(answerOf(c), c, addrs)
	}
	return t
}

// oneLine is err's text with the line breaks of errors.Join (redsync joins one error per
// primary) turned into "; ".
func oneLine(err error) string {
	if err == nil {
		return "no error"
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
