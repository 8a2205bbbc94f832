package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

func checkJSONL(t *testing.T, model string, keep bool, history string) porcupine.CheckResult {
	t.Helper()
	ops, err := parseJSONL(strings.NewReader(history), model, keep)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m := casRegisterModel
	if model == "kv" {
		m = kvModel
	}
	res, _ := check(m, ops, 0)
	return res
}

func TestCasRegister(t *testing.T) {
	cases := []struct {
		name    string
		want    porcupine.CheckResult
		history string
	}{
		{"linearizable", porcupine.Ok, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"read","value":null}
{"index":2,"time_ns":2,"process":0,"type":"invoke","f":"write","value":1}
{"index":3,"time_ns":3,"process":1,"type":"invoke","f":"read","value":null}
{"index":4,"time_ns":4,"process":1,"type":"ok","f":"read","value":1}
{"index":5,"time_ns":5,"process":0,"type":"ok","f":"write","value":1}
{"index":6,"time_ns":6,"process":1,"type":"invoke","f":"cas","value":[1,2]}
{"index":7,"time_ns":7,"process":1,"type":"ok","f":"cas","value":[1,2]}
{"index":8,"time_ns":8,"process":0,"type":"invoke","f":"cas","value":[1,3]}
{"index":9,"time_ns":9,"process":0,"type":"fail","f":"cas","value":[1,3]}
{"index":10,"time_ns":10,"process":0,"type":"invoke","f":"read","value":null}
{"index":11,"time_ns":11,"process":0,"type":"ok","f":"read","value":2}
`},
		{"stale read", porcupine.Illegal, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"read","value":null}
`},
		{"swap from a value never there", porcupine.Illegal, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"cas","value":[5,6]}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"cas","value":[5,6]}
`},
		// The write timed out: it may take effect at any time after its invocation,
		// so the later read of 1 is fine, and so is the earlier read of null.
		{"info write read later", porcupine.Ok, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":1,"process":0,"type":"info","f":"write","value":1}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"read","value":null}
{"index":4,"time_ns":4,"process":1,"type":"invoke","f":"read","value":null}
{"index":5,"time_ns":5,"process":1,"type":"ok","f":"read","value":1}
`},
		// A read that never completed constrains nothing.
		{"unfinished read", porcupine.Ok, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"read","value":null}
`},
		// The write failed, so it did not happen: reading its value is not linearizable.
		{"failed write read", porcupine.Illegal, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":1,"process":0,"type":"fail","f":"write","value":1}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"read","value":1}
`},
	}
	for _, c := range cases {
		for _, keep := range []bool{false, true} {
			if got := checkJSONL(t, "cas-register", keep, c.history); got != c.want {
				t.Errorf("%s (keep unknown reads %v): got %s, want %s", c.name, keep, verdictName(got), verdictName(c.want))
			}
		}
	}
}

func TestKv(t *testing.T) {
	cases := []struct {
		name    string
		want    porcupine.CheckResult
		history string
	}{
		{"linearizable", porcupine.Ok, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"get","value":["a",null]}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"get","value":["a",""]}
{"index":2,"time_ns":2,"process":0,"type":"invoke","f":"put","value":["a","v1"]}
{"index":3,"time_ns":3,"process":1,"type":"invoke","f":"get","value":["b",null]}
{"index":4,"time_ns":4,"process":1,"type":"ok","f":"get","value":["b",null]}
{"index":5,"time_ns":5,"process":0,"type":"ok","f":"put","value":["a","v1"]}
{"index":6,"time_ns":6,"process":1,"type":"invoke","f":"get","value":["a",null]}
{"index":7,"time_ns":7,"process":1,"type":"ok","f":"get","value":["a","v1"]}
{"index":8,"time_ns":8,"process":2,"type":"invoke","f":"put","value":["b","v2"]}
{"index":9,"time_ns":9,"process":2,"type":"info","f":"put","value":["b","v2"]}
{"index":10,"time_ns":10,"process":1,"type":"invoke","f":"get","value":["b",null]}
{"index":11,"time_ns":11,"process":1,"type":"ok","f":"get","value":["b","v2"]}
`},
		{"stale get", porcupine.Illegal, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"put","value":["a","v1"]}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"put","value":["a","v1"]}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"put","value":["b","v2"]}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"put","value":["b","v2"]}
{"index":4,"time_ns":4,"process":1,"type":"invoke","f":"get","value":["a",null]}
{"index":5,"time_ns":5,"process":1,"type":"ok","f":"get","value":["a",""]}
`},
		// Another key's value is not this key's.
		{"value of another key", porcupine.Illegal, `
{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"put","value":["a","v1"]}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"put","value":["a","v1"]}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"get","value":["b",null]}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"get","value":["b","v1"]}
`},
	}
	for _, c := range cases {
		for _, keep := range []bool{false, true} {
			if got := checkJSONL(t, "kv", keep, c.history); got != c.want {
				t.Errorf("%s (keep unknown reads %v): got %s, want %s", c.name, keep, verdictName(got), verdictName(c.want))
			}
		}
	}
}

func TestJepsenLog(t *testing.T) {
	// A cas that failed is a compare that failed: the register was not 1 then.
	ok := "INFO  jepsen.util - 0\t:invoke\t:write\t1\n" +
		"INFO  jepsen.util - 0\t:ok\t:write\t1\n" +
		"INFO  jepsen.util - 1\t:invoke\t:cas\t[2 3]\n" +
		"INFO  jepsen.util - 1\t:fail\t:cas\t[2 3]\n" +
		"INFO  jepsen.util - 2\t:invoke\t:write\t4\n" +
		"INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n" +
		"INFO  jepsen.util - 0\t:invoke\t:read\tnil\n" +
		"INFO  jepsen.util - 0\t:ok\t:read\t4\n"
	bad := "INFO  jepsen.util - 0\t:invoke\t:write\t1\n" +
		"INFO  jepsen.util - 0\t:ok\t:write\t1\n" +
		"INFO  jepsen.util - 1\t:invoke\t:cas\t[1 3]\n" +
		"INFO  jepsen.util - 1\t:fail\t:cas\t[1 3]\n"
	for _, c := range []struct {
		history string
		want    porcupine.CheckResult
	}{{ok, porcupine.Ok}, {bad, porcupine.Illegal}} {
		ops, err := parseJepsenLog(strings.NewReader(c.history), false)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := check(casRegisterModel, ops, 0); got != c.want {
			t.Errorf("got %s, want %s for\n%s", verdictName(got), verdictName(c.want), c.history)
		}
	}
}

func TestKvLog(t *testing.T) {
	ok := `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}
`
	bad := ok + `{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 1, :type :ok, :f :get, :key "0", :value ""}
`
	for _, c := range []struct {
		history string
		want    porcupine.CheckResult
	}{{ok, porcupine.Ok}, {bad, porcupine.Illegal}} {
		ops, err := parseKvLog(strings.NewReader(c.history), false)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := check(kvModel, ops, 0); got != c.want {
			t.Errorf("got %s, want %s", verdictName(got), verdictName(c.want))
		}
	}
}

// The command: its JSON line and exit code.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	history := `{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time_ns":1,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time_ns":2,"process":1,"type":"invoke","f":"read","value":null}
{"index":3,"time_ns":3,"process":1,"type":"ok","f":"read","value":null}
`
	if err := os.WriteFile(path, []byte(history), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"--model", "cas-register", "--timeout", "5", path}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), `{"verdict":"illegal","elapsed_ms":`) {
		t.Errorf("output %q", out.String())
	}
	if code := run([]string{"--model", "nope", path}, &out, &errOut); code != 3 {
		t.Errorf("a bad --model exits %d, want 3", code)
	}
}
