package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseRequestOps(t *testing.T) {
	req, perr := parseRequest([]byte(`{"id":1,"op":"acquire","key":"splitbrain-lock","ttl_ms":1000,"holder":"n2-4711-1"}`))
	if perr != nil {
		t.Fatalf("acquire: %v", perr)
	}
	if string(req.ID) != "1" || req.Op != "acquire" || req.Key != "splitbrain-lock" || req.TTLMs != 1000 || req.Holder != "n2-4711-1" {
		t.Fatalf("acquire parsed as %+v", req)
	}
	req, perr = parseRequest([]byte(`{"id":3,"op":"release","key":"k","holder":"h","token":42}`))
	if perr != nil || req.Op != "release" || req.TTLMs != 0 {
		t.Fatalf("release: %+v %v", req, perr)
	}
	req, perr = parseRequest([]byte(`{"id":2,"op":"renew","key":"k","ttl_ms":500,"holder":"h","token":null}`))
	if perr != nil || req.Op != "renew" {
		t.Fatalf("renew: %+v %v", req, perr)
	}
	// An unknown op parses without its fields; handle answers "unsupported".
	req, perr = parseRequest([]byte(`{"id":9,"op":"frobnicate"}`))
	if perr != nil || req.Op != "frobnicate" {
		t.Fatalf("unknown op: %+v %v", req, perr)
	}
	rep := (&plugin{}).handle(req, time.Now())
	if rep.OK || rep.Error != errUnsupported || rep.Definite == nil || !*rep.Definite {
		t.Fatalf("unknown op answered %+v", rep)
	}
}

func TestParseRequestKeepsID(t *testing.T) {
	for _, id := range []string{`7`, `123456789012`, `"abc"`, `1.5`} {
		req, perr := parseRequest([]byte(`{"id":` + id + `,"op":"release","key":"k","holder":"h"}`))
		if perr != nil {
			t.Fatalf("id %s: %v", id, perr)
		}
		if string(req.ID) != id {
			t.Fatalf("id %s read as %s", id, req.ID)
		}
	}
}

func TestParseRequestMalformed(t *testing.T) {
	cases := []struct {
		line   string
		withID bool
		want   string
	}{
		{`not json`, false, "not a JSON object"},
		{`[1,2]`, false, "not a JSON object"},
		{`null`, false, "not a JSON object"},
		{`{"op":"acquire"}`, false, "no id"},
		{`{"id":null,"op":"acquire"}`, false, "no id"},
		{`{"id":1}`, true, "no op"},
		{`{"id":1,"op":5}`, true, "op is not a string"},
		{`{"id":1,"op":"acquire","ttl_ms":1000,"holder":"h"}`, true, "no key"},
		{`{"id":1,"op":"acquire","key":"Bad_Key","ttl_ms":1000,"holder":"h"}`, true, "not a valid Lease name"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":1000}`, true, "no holder"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":1000,"holder":""}`, true, "holder is empty"},
		{`{"id":1,"op":"acquire","key":"k","holder":"h"}`, true, "without ttl_ms"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":"1000","holder":"h"}`, true, "ttl_ms is not a number"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":1.5,"holder":"h"}`, true, "whole number"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":0,"holder":"h"}`, true, "whole number"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":-5,"holder":"h"}`, true, "whole number"},
		{`{"id":1,"op":"acquire","key":"k","ttl_ms":1e30,"holder":"h"}`, true, "whole number"},
		{`{"id":1,"op":"release","key":"k","holder":7}`, true, "holder is not a string"},
	}
	for _, c := range cases {
		_, perr := parseRequest([]byte(c.line))
		if perr == nil {
			t.Errorf("%s: parsed", c.line)
			continue
		}
		if (perr.ID != nil) != c.withID {
			t.Errorf("%s: id %q, want an id: %t", c.line, perr.ID, c.withID)
		}
		if !strings.Contains(perr.Msg, c.want) {
			t.Errorf("%s: message %q lacks %q", c.line, perr.Msg, c.want)
		}
	}
}

// serve answers malformed lines that carry an id, skips the rest, and goes on.
func TestServeBadInput(t *testing.T) {
	in := strings.Join([]string{
		`garbage`,
		``,
		`{"id":1,"op":"acquire","key":"k","holder":"h"}`,
		`  {"id":2,"op":"nope"}  ` + "\r",
		strings.Repeat("x", maxLineBytes+10),
		`{"id":3,"op":"renew","key":"k","ttl_ms":1000,"holder":"nobody"}`,
		`{"id":4,"op":"release","key":"k","holder":"nobody"}`,
	}, "\n")
	var out strings.Builder
	p := &plugin{sessions: map[string]*session{}, opTimeout: time.Second, budget: budgetFor(time.Second)}
	if err := serve(p, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"id":1,"ok":false,"definite":true,"error":"bad request: acquire without ttl_ms"}`,
		`{"id":2,"ok":false,"definite":true,"error":"unsupported"}`,
		`{"id":3,"ok":false,"definite":true,"error":"not-holder"}`,
		`{"id":4,"ok":false,"definite":true,"error":"not-holder"}`,
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
