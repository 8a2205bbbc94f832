package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// session is one acquire's LeaderElector: Lease `key`, identity `holder`, running
// Run(ctx) in its own goroutine until release cancels it or it loses the lease.
type session struct {
	holder, key string
	le          *leaderelection.LeaderElector
	lock        *trackedLock
	cancel      context.CancelFunc
	started     chan struct{} // closed by OnStartedLeading
	done        chan struct{} // closed when Run has returned

	mu        sync.Mutex
	cancelled bool // we cancelled Run's context
	stopped   bool // OnStoppedLeading has fired
	lost      bool // ... while leading, before we cancelled: client-go gave the lease up
	leading   bool // OnStartedLeading has fired
}

func (s *session) leadingNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading && !s.stopped && s.le.IsLeader()
}

func (s *session) lostEarly() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

func (s *session) stop() {
	s.mu.Lock()
	s.cancelled = true
	s.mu.Unlock()
	s.cancel()
}

// waitDone waits for Run to return until deadline.
func (s *session) waitDone(deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-s.done:
		return true
	case <-t.C:
		return false
	}
}

type plugin struct {
	client    kubernetes.Interface
	namespace string
	node      string
	fencing   bool
	opTimeout time.Duration
	budget    opBudget
	sessions  map[string]*session // by holder

	warnedShortTTL, warnedSlowTakeover bool
}

// handle carries out one parsed request read at start.
func (p *plugin) handle(req request, start time.Time) reply {
	answerBy, leadBy := p.budget.Deadlines(start, p.opTimeout)
	switch req.Op {
	case "acquire":
		return p.acquire(req, answerBy, leadBy)
	case "renew":
		return p.renew(req)
	case "release":
		return p.release(req, answerBy)
	default:
		return refusal(req.ID, true, errUnsupported)
	}
}

func (p *plugin) acquire(req request, answerBy, leadBy time.Time) reply {
	t, err := timingsFor(req.TTLMs)
	if err != nil {
		return refusal(req.ID, true, err.Error())
	}
	if _, dup := p.sessions[req.Holder]; dup {
		return refusal(req.ID, true, fmt.Sprintf("holder %q already has an elector in this plug-in", req.Holder))
	}
	p.warnTimings(t, leadBy.Sub(time.Now()))

	s := &session{holder: req.Holder, key: req.Key, started: make(chan struct{}), done: make(chan struct{})}
	s.lock = newTrackedLock(&resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: req.Key, Namespace: p.namespace},
		Client:     p.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: req.Holder},
	}, t.RenewDeadline)
	s.le, err = leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            s.lock,
		LeaseDuration:   t.LeaseDuration,
		RenewDeadline:   t.RenewDeadline,
		RetryPeriod:     t.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            req.Key,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				s.mu.Lock()
				s.leading = true
				s.mu.Unlock()
				close(s.started)
			},
			OnStoppedLeading: func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.stopped = true
				if s.leading && !s.cancelled {
					s.lost = true
					log.Printf("holder %s: lost lease %s/%s (client-go stopped leading)", s.holder, p.namespace, s.key)
				}
			},
		},
	})
	if err != nil {
		return refusal(req.ID, true, "leader elector: "+err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		s.le.Run(ctx)
	}()

	timer := time.NewTimer(time.Until(leadBy))
	defer timer.Stop()
	select {
	case <-s.started:
	case <-s.done: // Run gave up without leading (it does not, short of a cancel)
	case <-timer.C:
	}

	if s.leadingNow() {
		token, err := p.leaseTransitionsOf(s, answerBy)
		if err == nil {
			p.sessions[s.holder] = s
			if p.fencing {
				return okToken(req.ID, token)
			}
			return okReply(req.ID)
		}
		log.Printf("holder %s: led, but %v; stopping the elector", s.holder, err)
	}

	// Not leading in time (or the Lease did not confirm it): stop the elector and find
	// out whether it left a grant behind.
	//
	// The race: client-go's acquire loop may write the grant just before or while we
	// cancel. Run then still goes on to renew(ctx), which returns at once on the cancelled
	// context, and ReleaseOnCancel makes it call release(), which writes an empty
	// holderIdentity; OnStartedLeading is started in its own goroutine and may fire
	// after all of this, so it proves nothing either way. What does tell is the record
	// of the elector's writes (trackedLock): a write cancelled halfway is never left
	// behind (writes ignore the cancel, so each has a server's answer when Run returns,
	// or it timed out), and release()'s result, which client-go drops, is seen there.
	// So "held" (definite) is answered only when Run has returned and either no write
	// naming this holder was applied, or the last applied write was the release; a
	// write with an unknown outcome, a grant whose release failed, or Run not returning
	// in time is an indefinite outcome.
	s.stop()
	if !s.waitDone(answerBy) {
		go p.reap(s)
		return refusal(req.ID, false, fmt.Sprintf("timeout: the elector for %s did not stop within the op timeout; it may hold the lease", s.holder))
	}
	w := s.lock.log()
	switch {
	case w.unknown > 0:
		return refusal(req.ID, false, fmt.Sprintf("a write of lease %s/%s has an unknown outcome: %v", p.namespace, s.key, w.lastUnknown))
	case !w.granted:
		return refusal(req.ID, true, errHeld)
	case w.lastApplied == "":
		log.Printf("holder %s: took lease %s/%s and released it while giving up", s.holder, p.namespace, s.key)
		return refusal(req.ID, true, errHeld)
	}
	// The grant was written and not released: only the Lease now naming someone else
	// makes this definite.
	other, err := p.otherHolder(s, answerBy)
	if err == nil && other {
		return refusal(req.ID, true, errHeld)
	}
	return refusal(req.ID, false, fmt.Sprintf("took lease %s/%s but client-go's release on cancel did not clear it (%s); it lapses after its ttl",
		p.namespace, s.key, why(w, err)))
}

// leaseTransitionsOf reads the Lease just after the elector started leading: it must
// name this holder, and its spec.leaseTransitions (bumped by client-go on every change
// of holder) is the fencing token, client-go having none of its own.
func (p *plugin) leaseTransitionsOf(s *session, answerBy time.Time) (int64, error) {
	lease, err := p.getLease(s.key, answerBy)
	if err != nil {
		return 0, fmt.Errorf("reading lease %s/%s: %v", p.namespace, s.key, err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder != s.holder {
		return 0, fmt.Errorf("lease %s/%s names %q", p.namespace, s.key, holder)
	}
	if lease.Spec.LeaseTransitions == nil {
		return 0, fmt.Errorf("lease %s/%s has no leaseTransitions", p.namespace, s.key)
	}
	return int64(*lease.Spec.LeaseTransitions), nil
}

// otherHolder reports whether the Lease names a holder other than s's.
func (p *plugin) otherHolder(s *session, answerBy time.Time) (bool, error) {
	lease, err := p.getLease(s.key, answerBy)
	if err != nil {
		return false, err
	}
	h := lease.Spec.HolderIdentity
	return h != nil && *h != "" && *h != s.holder, nil
}

func (p *plugin) getLease(key string, answerBy time.Time) (*coordinationv1.Lease, error) {
	ctx, cancel := context.WithDeadline(context.Background(), answerBy)
	defer cancel()
	return p.client.CoordinationV1().Leases(p.namespace).Get(ctx, key, metav1.GetOptions{})
}

// renew: client-go renews in its own loop, so renew only asks whether that elector
// still leads.
func (p *plugin) renew(req request) reply {
	s, ok := p.sessions[req.Holder]
	if !ok || s.key != req.Key {
		return refusal(req.ID, true, errNotHolder)
	}
	if s.leadingNow() {
		return okReply(req.ID)
	}
	// Lost: stop the elector so that it does not take the lease again for a holder the
	// agent now counts as gone.
	delete(p.sessions, s.holder)
	s.stop()
	go p.reap(s)
	return refusal(req.ID, true, errNotHolder)
}

// release cancels the elector, whose ReleaseOnCancel writes the release, and waits for
// Run to return.
func (p *plugin) release(req request, answerBy time.Time) reply {
	s, ok := p.sessions[req.Holder]
	if !ok || s.key != req.Key {
		return refusal(req.ID, true, errNotHolder)
	}
	delete(p.sessions, s.holder)
	if s.lostEarly() {
		s.stop()
		go p.reap(s)
		return refusal(req.ID, true, errNotHolder)
	}
	s.stop()
	if !s.waitDone(answerBy) {
		go p.reap(s)
		return refusal(req.ID, false, fmt.Sprintf("timeout: the release of lease %s/%s did not complete within the op timeout", p.namespace, s.key))
	}
	w := s.lock.log()
	switch {
	case w.unknown > 0:
		return refusal(req.ID, false, fmt.Sprintf("a write of lease %s/%s has an unknown outcome: %v", p.namespace, s.key, w.lastUnknown))
	case w.anyApplied && w.lastApplied == "":
		return okReply(req.ID)
	}
	// No release was written: client-go skips it when it no longer sees itself as the
	// holder, and drops a failed one.
	other, err := p.otherHolder(s, answerBy)
	if err == nil && other {
		return refusal(req.ID, true, errNotHolder)
	}
	return refusal(req.ID, false, fmt.Sprintf("client-go's release on cancel did not clear lease %s/%s (%s); it lapses after its ttl",
		p.namespace, s.key, why(w, err)))
}

// why says what is known of a release that did not happen: the write the server
// refused, or else that client-go wrote nothing (its release() reads the Lease first and
// gives up when that fails; the error is on stderr), and what reading the Lease gave.
func why(w writeLog, getErr error) string {
	msg := "no release was written; client-go's error is on stderr"
	if w.lastRejection != nil {
		msg = "refused: " + w.lastRejection.Error()
	}
	if getErr != nil {
		msg += "; reading the lease: " + getErr.Error()
	} else {
		msg += "; the lease still names this holder"
	}
	return msg
}

// reap waits for an elector left running past an answer, for the log.
func (p *plugin) reap(s *session) {
	<-s.done
	log.Printf("holder %s: elector for %s/%s has stopped", s.holder, p.namespace, s.key)
}

// warnTimings says once on stderr what client-go does with the ttl that the checkers
// may see as the lock's fault (it is client-go's behaviour, kept as it is).
func (p *plugin) warnTimings(t electionTimings, leadWindow time.Duration) {
	if t.leaseSeconds() == 0 && !p.warnedShortTTL {
		p.warnedShortTTL = true
		log.Printf("warning: ttl %v is under 1 s; client-go writes leaseDurationSeconds=%d, so other candidates may take the Lease at once",
			t.LeaseDuration, t.leaseSeconds())
	}
	// A new candidate takes a Lease its holder stopped renewing only after watching it
	// unchanged for leaseDurationSeconds; each acquire is a new candidate.
	need := time.Duration(t.leaseSeconds())*time.Second + 2*t.RetryPeriod
	if t.leaseSeconds() > 0 && leadWindow < need && !p.warnedSlowTakeover {
		p.warnedSlowTakeover = true
		log.Printf("warning: an acquire waits at most %v to lead, less than the %v needed to take over a Lease whose holder died; raise the op timeout",
			leadWindow.Round(time.Millisecond), need)
	}
}

// stripRetryAfter removes Retry-After from responses, so that client-go's REST client
// never resends a write on its own: a resent write answered "conflict" would hide
// whether the first attempt was applied.
type stripRetryAfter struct{ next http.RoundTripper }

func (s stripRetryAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if resp != nil {
		resp.Header.Del("Retry-After")
	}
	return resp, err
}
