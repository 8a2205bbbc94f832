package main

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The plug-in against a fake etcd behind a real *clientv3.Client (its KV and Lease are
// interfaces): the plug-in's own logic (what it answers when a step fails, what it
// leaves in etcd), with concurrency.Session and Mutex unchanged. The fake serves only
// what the recipe sends: Grant, KeepAlive, Revoke, TryLock's transaction, Delete.

type fakeKey struct {
	create int64
	lease  clientv3.LeaseID
}

type fakeLease struct {
	dead chan struct{} // closed: keep-alives stop answering (the session's Done closes)
	once sync.Once
}

func (l *fakeLease) stopKeepAlives() { l.once.Do(func() { close(l.dead) }) }

type fakeEtcd struct {
	mu     sync.Mutex
	rev    int64
	nextID int64
	keys   map[string]fakeKey
	leases map[clientv3.LeaseID]*fakeLease

	grantErr  error // the next Grant fails, not applied
	txnErr    error // the next transaction fails ...
	txnApply  bool  // ... after being applied
	deleteErr error // the next Delete fails, not applied
	revokeErr error // every Revoke fails, not applied, until cleared
}

func newFakeEtcd() *fakeEtcd {
	return &fakeEtcd{keys: map[string]fakeKey{}, leases: map[clientv3.LeaseID]*fakeLease{}}
}

func (e *fakeEtcd) set(f func(e *fakeEtcd)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

// endLeaseLocked ends a lease as etcd does on revoke or expiry: its keys go in the
// same revision.
func (e *fakeEtcd) endLeaseLocked(id clientv3.LeaseID) {
	l := e.leases[id]
	delete(e.leases, id)
	deleted := false
	for k, v := range e.keys {
		if v.lease == id {
			delete(e.keys, k)
			deleted = true
		}
	}
	if deleted {
		e.rev++
	}
	l.stopKeepAlives()
}

// expireSilently ends every lease at the server while their keep-alive channels stay
// open: the sessions have not noticed yet.
func (e *fakeEtcd) expireSilently() {
	e.set(func(e *fakeEtcd) {
		for id, l := range e.leases {
			l.once.Do(func() {}) // keep the channel open
			delete(e.leases, id)
			for k, v := range e.keys {
				if v.lease == id {
					delete(e.keys, k)
				}
			}
		}
		e.rev++
	})
}

func (e *fakeEtcd) counts() (keys, leases int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.keys), len(e.leases)
}

func (e *fakeEtcd) keyNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for k := range e.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type fakeLeaseAPI struct {
	clientv3.Lease // nil: any other call panics
	e              *fakeEtcd
}

func (f fakeLeaseAPI) Grant(_ context.Context, ttl int64) (*clientv3.LeaseGrantResponse, error) {
	e := f.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.grantErr; err != nil {
		e.grantErr = nil
		return nil, err
	}
	e.nextID++
	id := clientv3.LeaseID(0x7000 + e.nextID)
	e.leases[id] = &fakeLease{dead: make(chan struct{})}
	return &clientv3.LeaseGrantResponse{ID: id, TTL: max(ttl, 2)}, nil // etcd's 2 s minimum
}

func (f fakeLeaseAPI) Revoke(_ context.Context, id clientv3.LeaseID) (*clientv3.LeaseRevokeResponse, error) {
	e := f.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.revokeErr != nil {
		return nil, e.revokeErr
	}
	if _, ok := e.leases[id]; !ok {
		return nil, rpctypes.ErrLeaseNotFound
	}
	e.endLeaseLocked(id)
	return &clientv3.LeaseRevokeResponse{}, nil
}

// KeepAlive's channel closes when the caller cancels or the lease's keep-alives stop,
// as the real client's does.
func (f fakeLeaseAPI) KeepAlive(ctx context.Context, id clientv3.LeaseID) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	f.e.mu.Lock()
	l, ok := f.e.leases[id]
	f.e.mu.Unlock()
	ch := make(chan *clientv3.LeaseKeepAliveResponse)
	go func() {
		if ok {
			select {
			case <-ctx.Done():
			case <-l.dead:
			}
		}
		close(ch)
	}()
	return ch, nil
}

type fakeKV struct {
	clientv3.KV // nil: any other call panics
	e           *fakeEtcd
}

func (f fakeKV) Txn(context.Context) clientv3.Txn { return &fakeTxn{e: f.e} }

func (f fakeKV) Delete(_ context.Context, key string, _ ...clientv3.OpOption) (*clientv3.DeleteResponse, error) {
	e := f.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.deleteErr; err != nil {
		e.deleteErr = nil
		return nil, err
	}
	resp := &clientv3.DeleteResponse{Header: &pb.ResponseHeader{}}
	if _, ok := e.keys[key]; ok {
		delete(e.keys, key)
		e.rev++
		resp.Deleted = 1
	}
	resp.Header.Revision = e.rev
	return resp, nil
}

type fakeTxn struct {
	e         *fakeEtcd
	cmps      []clientv3.Cmp
	then, els []clientv3.Op
}

func (t *fakeTxn) If(cs ...clientv3.Cmp) clientv3.Txn { t.cmps = append(t.cmps, cs...); return t }
func (t *fakeTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.then = append(t.then, ops...)
	return t
}
func (t *fakeTxn) Else(ops ...clientv3.Op) clientv3.Txn { t.els = append(t.els, ops...); return t }

func (t *fakeTxn) Commit() (*clientv3.TxnResponse, error) {
	e := t.e
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.txnErr
	e.txnErr = nil
	if err != nil && !e.txnApply {
		return nil, err
	}
	resp, applyErr := t.applyLocked()
	if err != nil {
		return nil, err
	}
	return resp, applyErr
}

// applyLocked runs the transaction TryLock sends: compares on create revisions, puts of
// keys named prefix/<lease in hex>, gets of one key or of a prefix's oldest key.
func (t *fakeTxn) applyLocked() (*clientv3.TxnResponse, error) {
	e := t.e
	ok := true
	for _, c := range t.cmps {
		pc := (*pb.Compare)(&c)
		if pc.Target != pb.Compare_CREATE || pc.Result != pb.Compare_EQUAL {
			panic("fake etcd: unexpected compare " + pc.String())
		}
		if e.keys[string(pc.Key)].create != pc.GetCreateRevision() {
			ok = false
		}
	}
	ops := t.els
	if ok {
		ops = t.then
	}
	// A put on a lease that does not exist fails the whole transaction.
	for _, op := range ops {
		if op.IsPut() {
			if _, live := e.leases[leaseOfKey(string(op.KeyBytes()))]; !live {
				return nil, rpctypes.ErrLeaseNotFound
			}
		}
	}
	rev := e.rev + 1
	wrote := false
	resp := &clientv3.TxnResponse{Succeeded: ok}
	for _, op := range ops {
		key := string(op.KeyBytes())
		switch {
		case op.IsPut():
			if _, exists := e.keys[key]; !exists {
				e.keys[key] = fakeKey{create: rev, lease: leaseOfKey(key)}
			}
			wrote = true
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{}}})
		case op.IsGet():
			var kvs []*mvccpb.KeyValue
			if end := string(op.RangeBytes()); end == "" {
				if v, found := e.keys[key]; found {
					kvs = append(kvs, &mvccpb.KeyValue{Key: []byte(key), CreateRevision: v.create, Lease: int64(v.lease)})
				}
			} else { // WithFirstCreate: the oldest key of the range
				for k, v := range e.keys {
					if k >= key && k < end && (kvs == nil || v.create < kvs[0].CreateRevision) {
						kvs = []*mvccpb.KeyValue{{Key: []byte(k), CreateRevision: v.create, Lease: int64(v.lease)}}
					}
				}
			}
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{Kvs: kvs}}})
		default:
			panic("fake etcd: unexpected op")
		}
	}
	if wrote {
		e.rev = rev
	}
	resp.Header = &pb.ResponseHeader{Revision: e.rev}
	return resp, nil
}

func leaseOfKey(key string) clientv3.LeaseID {
	id, err := strconv.ParseInt(key[strings.LastIndex(key, "/")+1:], 16, 64)
	if err != nil {
		panic("fake etcd: key without a lease: " + key)
	}
	return clientv3.LeaseID(id)
}

func testPlugin(e *fakeEtcd) *plugin {
	c := clientv3.NewCtxClient(context.Background())
	c.KV = recordingKV{fakeKV{e: e}}
	c.Lease = fakeLeaseAPI{e: e}
	return &plugin{client: c, fencing: true, opTimeout: time.Second, budget: budgetFor(time.Second),
		sessions: map[string]*session{}}
}

func do(p *plugin, line string) reply {
	req, perr := parseRequest([]byte(line))
	if perr != nil {
		panic(perr)
	}
	return p.handle(req, time.Now())
}

func wantReply(t *testing.T, got reply, want string) {
	t.Helper()
	b, _ := encode(got)
	if string(b) != want+"\n" {
		t.Fatalf("reply %s, want %s", b, want)
	}
}

func wantRefusal(t *testing.T, got reply, definite bool, text string) {
	t.Helper()
	if got.OK || got.Definite == nil || *got.Definite != definite || !strings.Contains(got.Error, text) {
		b, _ := encode(got)
		t.Fatalf("reply %s, want a refusal definite=%t containing %q", b, definite, text)
	}
}

// waitCounts waits for the background session closes to leave keys and leases.
func waitCounts(t *testing.T, e *fakeEtcd, keys, leases int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		k, l := e.counts()
		if k == keys && l == leases {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd has %d keys %v and %d leases, want %d and %d", k, e.keyNames(), l, keys, leases)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAcquireRenewRelease(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	wantReply(t, do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`), `{"id":1,"ok":true,"token":1}`)
	if got := e.keyNames(); len(got) != 1 || !strings.HasPrefix(got[0], mutexPrefix+"lock/") {
		t.Fatalf("keys %v", got)
	}
	if s := p.sessions["a"]; s.ttl != 2 {
		t.Fatalf("granted ttl %d, want etcd's minimum 2", s.ttl)
	}
	wantReply(t, do(p, `{"id":2,"op":"renew","key":"lock","ttl_ms":1000,"holder":"a","token":1}`), `{"id":2,"ok":true}`)
	wantReply(t, do(p, `{"id":3,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b"}`), `{"id":3,"ok":false,"definite":true,"error":"held"}`)
	wantReply(t, do(p, `{"id":4,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`),
		`{"id":4,"ok":false,"definite":true,"error":"holder \"a\" already has a session in this plug-in"}`)
	// Another key is another lock.
	wantReply(t, do(p, `{"id":5,"op":"acquire","key":"lock2","ttl_ms":1000,"holder":"c"}`), `{"id":5,"ok":true,"token":4}`)
	wantReply(t, do(p, `{"id":6,"op":"release","key":"lock2","holder":"a"}`), `{"id":6,"ok":false,"definite":true,"error":"not-holder"}`)
	wantReply(t, do(p, `{"id":7,"op":"release","key":"lock","holder":"a","token":1}`), `{"id":7,"ok":true}`)
	wantReply(t, do(p, `{"id":8,"op":"release","key":"lock","holder":"a","token":1}`), `{"id":8,"ok":false,"definite":true,"error":"not-holder"}`)
	wantReply(t, do(p, `{"id":9,"op":"renew","key":"lock","ttl_ms":1000,"holder":"a","token":1}`), `{"id":9,"ok":false,"definite":true,"error":"not-holder"}`)
	// Tokens: each grant's key is created at a later revision.
	wantReply(t, do(p, `{"id":10,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b2"}`), `{"id":10,"ok":true,"token":6}`)
	wantReply(t, do(p, `{"id":11,"op":"release","key":"lock","holder":"b2","token":6}`), `{"id":11,"ok":true}`)
	wantReply(t, do(p, `{"id":12,"op":"release","key":"lock2","holder":"c","token":4}`), `{"id":12,"ok":true}`)
	waitCounts(t, e, 0, 0) // released sessions are closed: their leases revoked
}

func TestAcquireWithoutFencing(t *testing.T) {
	p := testPlugin(newFakeEtcd())
	p.fencing = false
	wantReply(t, do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":3000,"holder":"a"}`), `{"id":1,"ok":true}`)
	if s := p.sessions["a"]; s.ttl != 3 || s.token != 1 {
		t.Fatalf("session %+v", s)
	}
}

// A refused acquire leaves neither a key nor, once its session is closed, a lease.
func TestAcquireHeldLeavesNothing(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	wantReply(t, do(p, `{"id":2,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b"}`), `{"id":2,"ok":false,"definite":true,"error":"held"}`)
	waitCounts(t, e, 1, 1)
}

func TestAcquireGrantFails(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	e.set(func(e *fakeEtcd) { e.grantErr = context.DeadlineExceeded })
	wantRefusal(t, do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`), true, "no lock key written")
	waitCounts(t, e, 0, 0)
}

// The transaction timed out after it was applied, making us the owner unknowingly: the
// revoke takes the key away, and the refusal is definite.
func TestAcquireTxnUnknownRevoked(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	e.set(func(e *fakeEtcd) { e.txnErr, e.txnApply = context.DeadlineExceeded, true })
	wantRefusal(t, do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`), true,
		"revoking the session's lease removed any lock key it wrote")
	waitCounts(t, e, 0, 0)
	wantReply(t, do(p, `{"id":2,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b"}`), `{"id":2,"ok":true,"token":3}`)
}

// ... and when the revoke fails too, the answer is indefinite, and the key left behind
// owns the lock until its lease ends.
func TestAcquireTxnUnknownRevokeFails(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	e.set(func(e *fakeEtcd) {
		e.txnErr, e.txnApply = rpctypes.ErrTimeout, true
		e.revokeErr = context.DeadlineExceeded
	})
	wantRefusal(t, do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`), false,
		"may remain until lease")
	if _, ok := p.sessions["a"]; ok {
		t.Fatal("an abandoned acquire kept its session")
	}
	e.set(func(e *fakeEtcd) { e.revokeErr = nil })
	wantReply(t, do(p, `{"id":2,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b"}`), `{"id":2,"ok":false,"definite":true,"error":"held"}`)
	waitCounts(t, e, 1, 1)
	e.expireSilently() // the orphaned lease expires
	wantReply(t, do(p, `{"id":3,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"c"}`), `{"id":3,"ok":true,"token":5}`)
}

// A transaction etcd refused outright (here: its lease is gone) is definite without a
// revoke.
func TestAcquireTxnRefused(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	e.set(func(e *fakeEtcd) { e.txnErr = rpctypes.ErrLeaseNotFound })
	wantRefusal(t, do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`), true, "etcd refused the lock transaction")
	waitCounts(t, e, 0, 0)
}

// The lock is held and TryLock's delete of our waiting key fails: the revoke removes it,
// and the answer is a definite "held".
func TestAcquireWaiterDeleteFails(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	e.set(func(e *fakeEtcd) { e.deleteErr = rpctypes.ErrTimeout })
	wantReply(t, do(p, `{"id":2,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b"}`), `{"id":2,"ok":false,"definite":true,"error":"held"}`)
	waitCounts(t, e, 1, 1)
	// With the revoke failing as well, the waiting key may remain: indefinite.
	e.set(func(e *fakeEtcd) { e.deleteErr, e.revokeErr = rpctypes.ErrTimeout, rpctypes.ErrTimeout })
	wantRefusal(t, do(p, `{"id":3,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"c"}`), false,
		"the lock is held, and deleting this acquire's waiting key failed")
	waitCounts(t, e, 2, 2)
}

// Keep-alives stopped answering: the session is done, renew says not-holder and the
// lease, perhaps still alive at the server, is revoked.
func TestRenewAfterSessionDone(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	s := p.sessions["a"]
	e.set(func(e *fakeEtcd) { e.leases[s.lease].stopKeepAlives() })
	<-s.es.Done()
	wantReply(t, do(p, `{"id":2,"op":"renew","key":"lock","ttl_ms":1000,"holder":"a"}`), `{"id":2,"ok":false,"definite":true,"error":"not-holder"}`)
	waitCounts(t, e, 0, 0)
	wantReply(t, do(p, `{"id":3,"op":"release","key":"lock","holder":"a"}`), `{"id":3,"ok":false,"definite":true,"error":"not-holder"}`)
}

func TestReleaseAfterSessionDone(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	s := p.sessions["a"]
	e.set(func(e *fakeEtcd) { e.endLeaseLocked(s.lease) })
	<-s.es.Done()
	wantReply(t, do(p, `{"id":2,"op":"release","key":"lock","holder":"a"}`), `{"id":2,"ok":false,"definite":true,"error":"not-holder"}`)
	waitCounts(t, e, 0, 0)
}

// The lease expired at the server before the session noticed: renew still says ok (the
// recipe's own view), but Unlock's delete finds no key, and release says not-holder.
func TestReleaseAfterSilentExpiry(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	e.expireSilently()
	wantReply(t, do(p, `{"id":2,"op":"renew","key":"lock","ttl_ms":1000,"holder":"a"}`), `{"id":2,"ok":true}`)
	wantReply(t, do(p, `{"id":3,"op":"release","key":"lock","holder":"a"}`), `{"id":3,"ok":false,"definite":true,"error":"not-holder"}`)
}

// Unlock's delete fails: the revoke removes the key instead, and the release is ok;
// with the revoke failing too, it is indefinite.
func TestReleaseDeleteFails(t *testing.T) {
	e := newFakeEtcd()
	p := testPlugin(e)
	do(p, `{"id":1,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	e.set(func(e *fakeEtcd) { e.deleteErr = context.DeadlineExceeded })
	wantReply(t, do(p, `{"id":2,"op":"release","key":"lock","holder":"a"}`), `{"id":2,"ok":true}`)
	waitCounts(t, e, 0, 0)

	do(p, `{"id":3,"op":"acquire","key":"lock","ttl_ms":1000,"holder":"b"}`)
	e.set(func(e *fakeEtcd) { e.deleteErr, e.revokeErr = context.DeadlineExceeded, rpctypes.ErrTimeout })
	wantRefusal(t, do(p, `{"id":4,"op":"release","key":"lock","holder":"b"}`), false, "the key may remain until lease")
	waitCounts(t, e, 1, 1)
}

// Every reply of the fake runs carries the request's id.
func TestRepliesCarryID(t *testing.T) {
	p := testPlugin(newFakeEtcd())
	r := do(p, `{"id":"x-1","op":"acquire","key":"lock","ttl_ms":1000,"holder":"a"}`)
	if !json.Valid(r.ID) || string(r.ID) != `"x-1"` {
		t.Fatalf("id %s", r.ID)
	}
}
