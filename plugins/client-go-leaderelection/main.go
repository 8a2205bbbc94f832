// Command client-go-leaderelection is a splitbrain lock plug-in (docs/plugins.md) that
// puts client-go's own leader election, k8s.io/client-go/tools/leaderelection with a
// resourcelock.LeaseLock, under splitbrain's faults: acquire starts a LeaderElector on
// the Lease named by the request's key, release cancels it (ReleaseOnCancel), renew asks
// whether it still leads. See README.md.
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	defaultNamespace = "splitbrain"
	defaultOpTimeout = 1000 * time.Millisecond
)

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("client-go-leaderelection: ")
	p, err := setup()
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	log.Printf("node %s: leases in namespace %s, op timeout %v, fencing %t", p.node, p.namespace, p.opTimeout, p.fencing)
	if err := serve(p, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	// Stdin closed: exit without releasing, as a crashed client would. A release now
	// would be one the history never records; a held Lease lapses after its ttl.
	if n := len(p.sessions); n > 0 {
		log.Printf("stdin closed; exiting with %d lease(s) held, left to lapse", n)
	}
}

func setup() (*plugin, error) {
	path := os.Getenv("SPLITBRAIN_KUBECONFIG")
	if path == "" {
		return nil, errors.New("SPLITBRAIN_KUBECONFIG is not set: it must name the kubeconfig file of this node's API server")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_KUBECONFIG=%s: %v", path, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_KUBECONFIG=%s is not a usable kubeconfig: %v", path, err)
	}
	opTimeout := defaultOpTimeout
	if v := os.Getenv("SPLITBRAIN_OP_TIMEOUT_MS"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || ms > 1<<31 {
			return nil, fmt.Errorf("SPLITBRAIN_OP_TIMEOUT_MS=%q is not a positive number of milliseconds", v)
		}
		opTimeout = time.Duration(ms) * time.Millisecond
	}
	namespace := os.Getenv("SPLITBRAIN_KUBE_NAMESPACE")
	if namespace == "" {
		namespace = defaultNamespace
	}
	node := os.Getenv("SPLITBRAIN_NODE")
	budget := budgetFor(opTimeout)

	// No client-side throttling (client-go's default is 5 requests/s, slower than the
	// elector's retry period at splitbrain's ttls), no request outliving the answer, and
	// no automatic resend of a request (see stripRetryAfter).
	cfg.QPS = -1
	cfg.Timeout = opTimeout - budget.Margin
	cfg.UserAgent = "splitbrain-client-go-leaderelection/" + node
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return stripRetryAfter{rt} })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_KUBECONFIG=%s: %v", path, err)
	}
	return &plugin{
		client:    client,
		namespace: namespace,
		node:      node,
		fencing:   os.Getenv("SPLITBRAIN_FENCING") == "on",
		opTimeout: opTimeout,
		budget:    budget,
		sessions:  map[string]*session{},
	}, nil
}
