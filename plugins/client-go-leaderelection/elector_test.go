package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The elector against client-go's fake clientset: the plug-in's own logic (waiting,
// cancelling, reading what the elector left), not the API server's.

const testOpTimeout = time.Second // lead window 720 ms, answer by 900 ms

func testPlugin(client *fake.Clientset) *plugin {
	return &plugin{client: client, namespace: "splitbrain", fencing: true, opTimeout: testOpTimeout,
		budget: budgetFor(testOpTimeout), sessions: map[string]*session{}}
}

func do(p *plugin, line string) reply {
	req, perr := parseRequest([]byte(line))
	if perr != nil {
		panic(perr)
	}
	return p.handle(req, time.Now())
}

func leaseHolder(t *testing.T, c *fake.Clientset) string {
	t.Helper()
	l, err := c.CoordinationV1().Leases("splitbrain").Get(context.Background(), "k", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func wantReply(t *testing.T, got reply, want string) {
	t.Helper()
	b, _ := encode(got)
	if string(b) != want+"\n" {
		t.Fatalf("reply %s, want %s", b, want)
	}
}

func TestAcquireRenewRelease(t *testing.T) {
	c := fake.NewClientset()
	p := testPlugin(c)
	wantReply(t, do(p, `{"id":1,"op":"acquire","key":"k","ttl_ms":1000,"holder":"a"}`), `{"id":1,"ok":true,"token":0}`)
	wantReply(t, do(p, `{"id":2,"op":"renew","key":"k","ttl_ms":1000,"holder":"a"}`), `{"id":2,"ok":true}`)
	wantReply(t, do(p, `{"id":3,"op":"acquire","key":"k","ttl_ms":1000,"holder":"b"}`), `{"id":3,"ok":false,"definite":true,"error":"held"}`)
	wantReply(t, do(p, `{"id":4,"op":"release","key":"k","holder":"a"}`), `{"id":4,"ok":true}`)
	if h := leaseHolder(t, c); h != "" {
		t.Fatalf("released lease names %q", h)
	}
	wantReply(t, do(p, `{"id":5,"op":"release","key":"k","holder":"a"}`), `{"id":5,"ok":false,"definite":true,"error":"not-holder"}`)
	wantReply(t, do(p, `{"id":6,"op":"acquire","key":"k","ttl_ms":1000,"holder":"b"}`), `{"id":6,"ok":true,"token":1}`)
	wantReply(t, do(p, `{"id":7,"op":"release","key":"k","holder":"b"}`), `{"id":7,"ok":true}`)
}

// The grant is written after the acquire stopped waiting: ReleaseOnCancel releases it,
// and the refusal is definite.
func TestAcquireGrantDuringCancelIsReleased(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(800 * time.Millisecond) // past the lead window, before the answer
		return false, nil, nil
	})
	p := testPlugin(c)
	wantReply(t, do(p, `{"id":1,"op":"acquire","key":"k","ttl_ms":1000,"holder":"a"}`), `{"id":1,"ok":false,"definite":true,"error":"held"}`)
	if h := leaseHolder(t, c); h != "" {
		t.Fatalf("lease left naming %q", h)
	}
}

// The same, but client-go's release fails: the grant stays, so the outcome is not
// definite.
func TestAcquireGrantLeftIsIndefinite(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(800 * time.Millisecond)
		return false, nil, nil
	})
	c.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "leases"}, "k", errors.New("test"))
		}
		return false, nil, nil
	})
	p := testPlugin(c)
	r := do(p, `{"id":1,"op":"acquire","key":"k","ttl_ms":1000,"holder":"a"}`)
	if r.OK || r.Definite == nil || *r.Definite {
		t.Fatalf("reply %+v, want an indefinite refusal", r)
	}
	if h := leaseHolder(t, c); h != "a" {
		t.Fatalf("lease names %q", h)
	}
}

// A write whose outcome is unknown (a 504 from the API server) makes the refusal
// indefinite.
func TestAcquireUnknownWriteIsIndefinite(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTimeoutError("etcd", 0)
	})
	p := testPlugin(c)
	r := do(p, `{"id":1,"op":"acquire","key":"k","ttl_ms":1000,"holder":"a"}`)
	if r.OK || r.Definite == nil || *r.Definite {
		t.Fatalf("reply %+v, want an indefinite refusal", r)
	}
	var id int
	if json.Unmarshal(r.ID, &id) != nil || id != 1 {
		t.Fatalf("id %s", r.ID)
	}
}
