package lockprotocol

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEncodeReplies(t *testing.T) {
	cases := []struct {
		r    Reply
		want string
	}{
		{OKToken(json.RawMessage(`1`), 42), `{"id":1,"ok":true,"token":42}`},
		{OKToken(json.RawMessage(`1`), 0), `{"id":1,"ok":true,"token":0}`},
		{OK(json.RawMessage(`2`)), `{"id":2,"ok":true}`},
		{Refusal(json.RawMessage(`4`), true, ErrHeld), `{"id":4,"ok":false,"definite":true,"error":"held"}`},
		{Refusal(json.RawMessage(`5`), false, "timeout after 300 ms"), `{"id":5,"ok":false,"definite":false,"error":"timeout after 300 ms"}`},
		{Refusal(json.RawMessage(`6`), false, "key <nil> & more"), `{"id":6,"ok":false,"definite":false,"error":"key <nil> & more"}`},
		// An id read with blanks and a newline inside comes out compact, on one line.
		{Refusal(json.RawMessage("{\n \"a\" : 1}"), true, "x\ny"), `{"id":{"a":1},"ok":false,"definite":true,"error":"x\ny"}`},
	}
	for _, c := range cases {
		b, err := Encode(c.r)
		if err != nil {
			t.Fatalf("%+v: %v", c.r, err)
		}
		if string(b) != c.want+"\n" {
			t.Errorf("encoded %q, want %q", b, c.want+"\n")
		}
	}
}

func TestReadLineTooLong(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader(strings.Repeat("y", 300)+"\nnext\n"), 16)
	line, tooLong, err := ReadLine(r, 100)
	if !tooLong || line != nil || err != nil {
		t.Fatalf("long line: %q %t %v", line, tooLong, err)
	}
	line, tooLong, err = ReadLine(r, 100)
	if string(line) != "next" || tooLong || err != nil {
		t.Fatalf("next line: %q %t %v", line, tooLong, err)
	}
}

func TestParseRequestAsksTheLockSystemAboutTheKey(t *testing.T) {
	noSlash := func(k string) string {
		if strings.Contains(k, "/") {
			return "contains a slash"
		}
		return ""
	}
	_, perr := ParseRequest([]byte(`{"id":3,"op":"release","key":"a/b","holder":"h"}`), noSlash)
	if perr == nil || string(perr.ID) != "3" || perr.Msg != `bad request: key "a/b" contains a slash` {
		t.Fatalf("got %+v", perr)
	}
	req, perr := ParseRequest([]byte(`{"id":4,"op":"acquire","key":"ab","ttl_ms":1000,"holder":"h"}`), noSlash)
	if perr != nil || req.TTLMs != 1000 || req.Key != "ab" {
		t.Fatalf("got %+v %+v", req, perr)
	}
}

func TestBudgetLeavesAMarginAndAReserve(t *testing.T) {
	b := NewBudget(1000*time.Millisecond, 5)
	if b.Margin != 100*time.Millisecond || b.Reserve != 180*time.Millisecond {
		t.Fatalf("got %+v", b)
	}
	start := time.Unix(100, 0)
	answerBy, stepBy := b.Deadlines(start, time.Second)
	if answerBy != start.Add(900*time.Millisecond) || stepBy != start.Add(720*time.Millisecond) {
		t.Fatalf("answer by %v, step by %v", answerBy, stepBy)
	}
}

func TestARefusalCarriesItsDetailBesideTheErrorName(t *testing.T) {
	line, err := Encode(Refusal(json.RawMessage("7"), true, "not-holder").WithDetail("lock key gone"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":7,"ok":false,"definite":true,"error":"not-holder","detail":"lock key gone"}` + "\n"
	if string(line) != want {
		t.Fatalf("got %s, want %s", line, want)
	}
}
