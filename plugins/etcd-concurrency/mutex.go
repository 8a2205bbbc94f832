package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// session is one granted acquire: its concurrency.Session (a lease that the client
// keeps alive in its own goroutine) and the Mutex locked on it.
type session struct {
	holder, key string
	es          *concurrency.Session
	mutex       *concurrency.Mutex
	lease       clientv3.LeaseID
	ttl         int64 // seconds, as etcd granted it
	token       int64 // the lock key's create revision
}

// alive reports whether the session still keeps its lease alive. Session.Done closes
// when a keep-alive answer says the lease is gone (TTL <= 0), when no keep-alive answer
// came for a whole TTL (the client checks once a second, so up to TTL + 1 s after the
// last answer), or when the session is orphaned or its client closed.
func (s *session) alive() bool {
	select {
	case <-s.es.Done():
		return false
	default:
		return true
	}
}

type plugin struct {
	client    *clientv3.Client
	endpoints []string
	node      string
	fencing   bool
	opTimeout time.Duration
	budget    opBudget
	sessions  map[string]*session // by holder

	warnedTTL bool
}

// handle carries out one parsed request read at start.
func (p *plugin) handle(req request, start time.Time) reply {
	answerBy, stepBy := p.budget.Deadlines(start, p.opTimeout)
	switch req.Op {
	case "acquire":
		return p.acquire(req, answerBy, stepBy)
	case "renew":
		return p.renew(req)
	case "release":
		return p.release(req, answerBy, stepBy)
	default:
		return refusal(req.ID, true, errUnsupported)
	}
}

func (p *plugin) acquire(req request, answerBy, stepBy time.Time) reply {
	ttl, err := ttlSeconds(req.TTLMs)
	if err != nil {
		return refusal(req.ID, true, err.Error())
	}
	if _, dup := p.sessions[req.Holder]; dup {
		return refusal(req.ID, true, fmt.Sprintf("holder %q already has a session in this plug-in", req.Holder))
	}
	ctx, cancel := context.WithDeadline(context.Background(), stepBy)
	defer cancel()

	// The lease is granted here and handed to NewSession (WithLease) rather than granted
	// by NewSession: NewSession grants on the session's own context, which must carry no
	// deadline since the keep-alives run on it too, so its Grant could outlast the op
	// timeout; and the Grant's answer says which TTL etcd really gave.
	grant, err := p.client.Grant(ctx, ttl)
	if err != nil {
		// Nothing was written under the lock's prefix: the transaction comes later. A
		// Grant applied despite the error leaves a lease with no key that nobody keeps
		// alive; it expires after its TTL.
		return refusal(req.ID, true, fmt.Sprintf("no lock key written: granting the session's lease failed: %v", err))
	}
	p.noteGrantedTTL(req.TTLMs, ttl, grant.TTL)
	es, err := concurrency.NewSession(p.client, concurrency.WithLease(grant.ID), concurrency.WithTTL(int(grant.TTL)))
	if err != nil { // only a closed client fails here, before anything is sent
		return refusal(req.ID, true, fmt.Sprintf("no lock key written: starting the session's keep-alive failed: %v", err))
	}
	s := &session{holder: req.Holder, key: req.Key, es: es, mutex: concurrency.NewMutex(es, mutexPrefix+req.Key),
		lease: grant.ID, ttl: grant.TTL}

	// TryLock is one transaction: if our key (prefix/<lease>) does not exist, put it on
	// the lease; either way read the oldest key under the prefix. We own the lock when
	// that oldest key is ours; otherwise TryLock deletes our key and says ErrLocked.
	dels := &deleteLog{}
	err = s.mutex.TryLock(withDeleteLog(ctx, dels))
	switch {
	case err == nil:
		s.token = ownRevision(s.mutex)
		if h := s.mutex.Header(); h == nil || h.Revision != s.token {
			// Only a transaction that found our key already there (the Else branch, which
			// a fresh session never takes) answers with a later revision than the key's.
			log.Printf("holder %s: lock key %s created at revision %d, but the lock transaction answered at %v",
				s.holder, s.mutex.Key(), s.token, headerRevision(h))
		}
		p.sessions[s.holder] = s
		if p.fencing {
			return okToken(req.ID, s.token)
		}
		return okReply(req.ID)
	case errors.Is(err, concurrency.ErrLocked):
		// The transaction put our key, found an older one (the owner's), and TryLock's
		// delete removed ours: all that is left is an empty lease, which Close revokes.
		go p.closeSession(s, "acquire refused")
		return refusal(req.ID, true, errHeld)
	}
	return p.abandonAcquire(req, s, err, dels, answerBy)
}

// abandonAcquire answers an acquire whose TryLock failed other than with ErrLocked, and
// makes sure that it leaves no lock key behind.
//
// Where a key may be left. TryLock failed in one of two ways:
//   - its transaction failed (no delete was tried). Unless etcd refused it outright, it
//     may have been applied: our key exists, created at the transaction's revision. If
//     no older key was there, this session owns the lock, though nobody was told;
//     otherwise our key waits in line and becomes the owner when the older keys go
//     (TryLock never waits, but the recipe's queue is the keys' create order);
//   - its transaction was applied and found another owner, and the delete of our key
//     failed: the key may still be there, waiting in line.
//
// And the session's goroutine keeps that key's lease alive for as long as this process
// runs, so the key would own or block the lock for good. So: stop the keep-alives
// (Orphan) and revoke the lease within what is left of the op timeout. A lease revoked,
// or found already gone, takes every key on it along in the same raft entry, and a
// transaction still in flight that puts a key on it is refused whole when applied
// (lease not found): nothing of the acquire remains, and the refusal is definite. A
// grant that did happen lasted from the transaction to the revoke, a span in which this
// process ran no critical section and every other acquire got "held"; as
// client-go-leaderelection does with a grant that its release on cancel undid, the
// answer does not report it.
//
// When the revoke fails too, the answer is indefinite. The key, if written, then stays
// until the lease expires: its TTL after the last keep-alive etcd got (a new etcd leader
// starts every lease's TTL afresh, so a leader change makes it later). Until then it
// owns or queues for the lock, and every other acquire is refused "held".
func (p *plugin) abandonAcquire(req request, s *session, tryErr error, dels *deleteLog, answerBy time.Time) reply {
	tried, _, _ := dels.summary()
	if tried == 0 && refusedUnapplied(tryErr) {
		go p.closeSession(s, "acquire refused")
		return refusal(req.ID, true, fmt.Sprintf("etcd refused the lock transaction: %v", tryErr))
	}
	what := "the lock transaction's outcome is unknown"
	if tried > 0 {
		what = "the lock is held, and deleting this acquire's waiting key failed"
	}
	revokeErr := p.revoke(s, answerBy)
	if leaseGone(revokeErr) {
		log.Printf("holder %s: %s (%v); revoked lease %x, which removed any key it left", s.holder, what, tryErr, int64(s.lease))
		if tried > 0 {
			return refusal(req.ID, true, errHeld)
		}
		return refusal(req.ID, true, fmt.Sprintf("%s (%v); revoking the session's lease removed any lock key it wrote", what, tryErr))
	}
	log.Printf("holder %s: %s (%v), and revoking lease %x failed: %v", s.holder, what, tryErr, int64(s.lease), revokeErr)
	return refusal(req.ID, false, fmt.Sprintf("%s (%v), and revoking the session's lease failed (%v): lock key %s may remain until lease %x expires (ttl %d s, no longer kept alive)",
		what, tryErr, revokeErr, s.mutex.Key(), int64(s.lease), s.ttl))
}

// renew: the session keeps its lease alive in its own goroutine, so renew only asks
// whether it still does.
func (p *plugin) renew(req request) reply {
	s, ok := p.sessions[req.Holder]
	if !ok || s.key != req.Key {
		return refusal(req.ID, true, errNotHolder)
	}
	if s.alive() {
		return okReply(req.ID)
	}
	// The session gave its lease up. Its Done also closes when keep-alive answers merely
	// stopped coming for a TTL, with the lease perhaps still alive at the server and our
	// key still the owner: revoke it, so that etcd agrees with the answer.
	delete(p.sessions, s.holder)
	log.Printf("holder %s: session of lease %x is done; lost lock %q", s.holder, int64(s.lease), s.key)
	go p.closeSession(s, "renew found the session done")
	return refusal(req.ID, true, errNotHolder)
}

// release calls Mutex.Unlock, which deletes our lock key, then closes the session.
func (p *plugin) release(req request, answerBy, stepBy time.Time) reply {
	s, ok := p.sessions[req.Holder]
	if !ok || s.key != req.Key {
		return refusal(req.ID, true, errNotHolder)
	}
	delete(p.sessions, s.holder)
	if !s.alive() {
		log.Printf("holder %s: session of lease %x was done before the release; lost lock %q", s.holder, int64(s.lease), s.key)
		go p.closeSession(s, "release found the session done")
		return refusal(req.ID, true, errNotHolder)
	}
	ctx, cancel := context.WithDeadline(context.Background(), stepBy)
	defer cancel()
	dels := &deleteLog{}
	lockKey := s.mutex.Key() // Unlock forgets it
	err := s.mutex.Unlock(withDeleteLog(ctx, dels))
	if err == nil {
		go p.closeSession(s, "released")
		if _, _, deleted := dels.summary(); deleted == 0 {
			// Unlock's delete found no key: etcd had deleted it with the lease, which
			// expired while the session here still counted it alive.
			log.Printf("holder %s: lock key %s was already gone at release: lease %x expired before the session noticed",
				s.holder, lockKey, int64(s.lease))
			return refusal(req.ID, true, errNotHolder)
		}
		return okReply(req.ID)
	}
	// The delete's outcome is unknown. Closing the session now settles it: a revoke that
	// succeeds finds the lease alive and deletes its keys, so our key is gone by our own
	// hand either way (the delete or the revoke).
	revokeErr := p.revoke(s, answerBy)
	if revokeErr == nil {
		log.Printf("holder %s: unlock failed (%v); revoked lease %x instead", s.holder, err, int64(s.lease))
		return okReply(req.ID)
	}
	log.Printf("holder %s: unlock failed (%v), and revoking lease %x failed: %v", s.holder, err, int64(s.lease), revokeErr)
	return refusal(req.ID, false, fmt.Sprintf("unlock of %s failed (%v) and revoking the session's lease failed (%v): the key may remain until lease %x expires (ttl %d s, no longer kept alive)",
		s.mutex.Key(), err, revokeErr, int64(s.lease), s.ttl))
}

// revoke stops the session's keep-alives and revokes its lease, answering by answerBy.
func (p *plugin) revoke(s *session, answerBy time.Time) error {
	s.es.Orphan()
	ctx, cancel := context.WithDeadline(context.Background(), answerBy)
	defer cancel()
	_, err := p.client.Revoke(ctx, s.lease)
	return err
}

// closeSession closes a session that no answer depends on any more (Session.Close:
// stop the keep-alives, revoke the lease, bounded by the TTL). Run in its own goroutine.
func (p *plugin) closeSession(s *session, why string) {
	if err := s.es.Close(); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		log.Printf("holder %s: closing the session (%s): revoking lease %x: %v; it expires on its own", s.holder, why, int64(s.lease), err)
	}
}

// ownRevision is the create revision of the mutex's own key, which TryLock keeps as the
// operand of the IsOwner comparison (Mutex has no getter for it); -1 before a lock.
func ownRevision(m *concurrency.Mutex) int64 {
	c := m.IsOwner()
	return (*pb.Compare)(&c).GetCreateRevision()
}

func headerRevision(h *pb.ResponseHeader) any {
	if h == nil {
		return "no header"
	}
	return h.Revision
}

// noteGrantedTTL says once on stderr when the lease is longer than asked: rounded up to
// whole seconds, or raised by etcd to its minimum. A hold then outlasts the requested
// ttl, so other acquires stay refused longer; that is etcd's behaviour, kept.
func (p *plugin) noteGrantedTTL(ttlMs, asked, granted int64) {
	if p.warnedTTL || granted*1000 == ttlMs {
		return
	}
	p.warnedTTL = true
	switch {
	case granted > asked:
		log.Printf("note: ttl %d ms asked for a %d s lease; etcd granted %d s (its minimum lease TTL is 1.5 election timeouts, rounded up to a second)", ttlMs, asked, granted)
	case granted == asked:
		log.Printf("note: ttl %d ms rounded up to a %d s lease (etcd leases count whole seconds)", ttlMs, granted)
	default:
		log.Printf("note: ttl %d ms asked for a %d s lease; etcd granted only %d s", ttlMs, asked, granted)
	}
}
