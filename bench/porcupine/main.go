// Command porcupine-check checks a history with porcupine
// (github.com/anishathalye/porcupine), for benchmarking splitbrain's checker beside it
// (scripts/bench-checker runs both on the same files).
//
//	porcupine-check --model cas-register|kv --timeout SECS FILE
//
// FILE is splitbrain's history.jsonl, one event a line:
//
//	{"index":0,"time_ns":0,"process":0,"type":"invoke"|"ok"|"fail"|"info","f":...,"value":...}
//
// Each invocation is paired with the next completion of the same process. A `fail`
// completion means the operation did not happen: it is dropped. An `info` completion, or
// none, means the outcome is unknown: as porcupine's users do for Jepsen, the operation
// stays pending until the end of the history (its return comes after every other event)
// with an output the model accepts from any state. A read or get of unknown outcome
// changes nothing and constrains nothing, so it is dropped instead (as splitbrain's
// checker drops it) unless --keep-unknown-reads is given: kept, each one multiplies the
// states porcupine's search may visit, the verdict being the same. Event order is the
// order of the lines: the n-th event of the file happens at time n.
//
//	cas-register  values are JSON integers or null (null is the initial value); read
//	              returns the completion's value, write writes the invocation's value,
//	              cas's value is [from, to] and an `ok` completion means it swapped.
//	kv            values are [key, value] with string values; get returns the
//	              completion's value, put writes, append appends; a key never written
//	              reads as "" (and a null value is ""). Checked key by key (the model's
//	              Partition).
//
// Two more formats, porcupine's own test data, are read by extension (or --format):
// `.log`, its Jepsen etcd logs (cas-register; there a `:fail :cas` is a compare that
// failed, so the state was not `from`, and `:fail :read :timed-out` is a read of unknown
// output, as porcupine's tests read them), and `.txt`, its kv logs (one EDN map a line).
//
// It prints one line of JSON, {"verdict":"ok"|"illegal"|"unknown","elapsed_ms":...,
// "operations":...}, where elapsed_ms is the time porcupine took to check (not to read
// the file), and exits 0, 1 or 2 for ok, illegal or unknown (3 for a usage or input
// error).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// ---- the cas-register model ----

// regValue is a register's value: null (the zero regValue) or an integer.
type regValue struct {
	set bool
	n   int64
}

func (v regValue) String() string {
	if !v.set {
		return "null"
	}
	return strconv.FormatInt(v.n, 10)
}

const (
	opRead uint8 = iota
	opWrite
	opCas
)

type regInput struct {
	op      uint8
	arg, to regValue // write: arg; cas: from arg to to
}

type regOutput struct {
	value   regValue // read: the value read
	swapped bool     // cas: true for an ok compare-and-set, false for a compare that failed
	unknown bool     // the outcome is not known: any state accepts it
}

var casRegisterModel = porcupine.Model{
	Init: func() interface{} { return regValue{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(regValue)
		in := input.(regInput)
		out := output.(regOutput)
		switch in.op {
		case opRead:
			return out.unknown || out.value == st, st
		case opWrite:
			return true, in.arg
		default: // opCas
			match := st == in.arg
			next := st
			if match {
				next = in.to
			}
			switch {
			case out.unknown:
				return true, next
			case out.swapped:
				return match, next
			default:
				return !match, st
			}
		}
	},
	Equal: func(a, b interface{}) bool { return a.(regValue) == b.(regValue) },
	Hash: func(state interface{}) uint64 {
		v := state.(regValue)
		if !v.set {
			return 0x9e3779b97f4a7c15
		}
		return uint64(v.n) * 0xff51afd7ed558ccd
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(regInput)
		out := output.(regOutput)
		switch in.op {
		case opRead:
			if out.unknown {
				return "read() -> ?"
			}
			return "read() -> " + out.value.String()
		case opWrite:
			return "write(" + in.arg.String() + ")"
		default:
			res := "fail"
			if out.unknown {
				res = "?"
			} else if out.swapped {
				res = "ok"
			}
			return fmt.Sprintf("cas(%v, %v) -> %s", in.arg, in.to, res)
		}
	},
	DescribeState: func(state interface{}) string { return state.(regValue).String() },
}

// ---- the kv model, one key's string per partition ----

const (
	opGet uint8 = iota
	opPut
	opAppend
)

type kvInput struct {
	op         uint8
	key, value string
}

type kvOutput struct {
	value   string // get: the value read
	unknown bool
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make(map[string][]porcupine.Operation)
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		st := state.(string)
		in := input.(kvInput)
		out := output.(kvOutput)
		switch in.op {
		case opGet:
			return out.unknown || out.value == st, st
		case opPut:
			return true, in.value
		default: // opAppend
			return true, st + in.value
		}
	},
	Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(kvInput)
		out := output.(kvOutput)
		switch in.op {
		case opGet:
			if out.unknown {
				return fmt.Sprintf("get(%q) -> ?", in.key)
			}
			return fmt.Sprintf("get(%q) -> %q", in.key, out.value)
		case opPut:
			return fmt.Sprintf("put(%q, %q)", in.key, in.value)
		default:
			return fmt.Sprintf("append(%q, %q)", in.key, in.value)
		}
	},
	DescribeState: func(state interface{}) string { return strconv.Quote(state.(string)) },
}

// ---- pairing invocations with completions ----

// builder turns a sequence of events into porcupine operations. Time is the event's
// position: the n-th event (counting from 0) happens at n.
type builder struct {
	clock   int64
	open    map[int64]*porcupine.Operation // by process: invoked, not yet completed
	done    []porcupine.Operation
	pending []*porcupine.Operation // outcome unknown: returned after every other event
	// unknownOutput is the model's "any state accepts it" output for an invocation.
	unknownOutput func(input interface{}) interface{}
	// keepUnknownReads keeps reads whose outcome is unknown (pending to the end, any
	// output accepted) instead of dropping them. They change no state and constrain no
	// other operation, so dropping them leaves the verdict as it is, but every one kept
	// multiplies the states porcupine's search can visit.
	keepUnknownReads bool
}

func newBuilder(unknownOutput func(interface{}) interface{}) *builder {
	return &builder{open: make(map[int64]*porcupine.Operation), unknownOutput: unknownOutput}
}

// isRead tells whether input changes no state: a register read or a kv get.
func isRead(input interface{}) bool {
	switch in := input.(type) {
	case regInput:
		return in.op == opRead
	case kvInput:
		return in.op == opGet
	}
	return false
}

func (b *builder) tick() int64 {
	t := b.clock
	b.clock++
	return t
}

func (b *builder) invoke(process int64, input interface{}) {
	t := b.tick()
	if prev, ok := b.open[process]; ok {
		// A process that invokes again without completing: its previous operation's
		// outcome is unknown.
		b.pending = append(b.pending, prev)
	}
	b.open[process] = &porcupine.Operation{ClientId: int(process), Input: input, Call: t}
}

// take removes and returns the process's open operation (nil if none).
func (b *builder) take(process int64) *porcupine.Operation {
	op := b.open[process]
	delete(b.open, process)
	return op
}

// ret completes op now with output.
func (b *builder) ret(op *porcupine.Operation, output interface{}) {
	op.Output = output
	op.Return = b.tick()
	b.done = append(b.done, *op)
}

// operations closes the history: every operation still open or of unknown outcome
// returns, with an output any state accepts, after every other event.
func (b *builder) operations() []porcupine.Operation {
	procs := make([]int64, 0, len(b.open))
	for p := range b.open {
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool { return procs[i] < procs[j] })
	for _, p := range procs {
		b.pending = append(b.pending, b.open[p])
	}
	b.open = map[int64]*porcupine.Operation{}
	end := b.clock
	ops := b.done
	for _, op := range b.pending {
		if !b.keepUnknownReads && isRead(op.Input) {
			continue
		}
		op.Output = b.unknownOutput(op.Input)
		op.Return = end
		ops = append(ops, *op)
	}
	b.pending = nil
	return ops
}

func unknownRegOutput(interface{}) interface{} { return regOutput{unknown: true} }
func unknownKvOutput(interface{}) interface{}  { return kvOutput{unknown: true} }

// ---- splitbrain's history.jsonl ----

type jsonlEvent struct {
	Process json.Number     `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Value   json.RawMessage `json:"value"`
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

func parseRegValue(raw json.RawMessage) (regValue, error) {
	if isNull(raw) {
		return regValue{}, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return regValue{}, fmt.Errorf("register value %s is not a number or null", raw)
	}
	i, err := n.Int64()
	if err != nil {
		return regValue{}, fmt.Errorf("register value %s is not an integer", raw)
	}
	return regValue{set: true, n: i}, nil
}

// parsePair reads a JSON array of two elements.
func parsePair(raw json.RawMessage) (json.RawMessage, json.RawMessage, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return nil, nil, fmt.Errorf("value %s is not a pair", raw)
	}
	return pair[0], pair[1], nil
}

// parseKey reads a kv key: a string, or any other JSON value taken as its text.
func parseKey(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// parseKvString reads a kv value: a string, or null for "".
func parseKvString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("kv value %s is not a string or null", raw)
	}
	return s, nil
}

func regInvocation(f string, value json.RawMessage) (regInput, error) {
	switch f {
	case "read":
		return regInput{op: opRead}, nil
	case "write":
		v, err := parseRegValue(value)
		return regInput{op: opWrite, arg: v}, err
	case "cas":
		a, b, err := parsePair(value)
		if err != nil {
			return regInput{}, err
		}
		from, err := parseRegValue(a)
		if err != nil {
			return regInput{}, err
		}
		to, err := parseRegValue(b)
		return regInput{op: opCas, arg: from, to: to}, err
	}
	return regInput{}, fmt.Errorf("f %q is not read, write or cas", f)
}

func kvInvocation(f string, value json.RawMessage) (kvInput, error) {
	a, b, err := parsePair(value)
	if err != nil {
		return kvInput{}, err
	}
	in := kvInput{key: parseKey(a)}
	switch f {
	case "get", "read":
		in.op = opGet
		return in, nil
	case "put", "write":
		in.op = opPut
	case "append":
		in.op = opAppend
	default:
		return kvInput{}, fmt.Errorf("f %q is not get, put or append", f)
	}
	in.value, err = parseKvString(b)
	return in, err
}

// parseJSONL reads splitbrain's history.jsonl for model ("cas-register" or "kv").
func parseJSONL(r io.Reader, model string, keepUnknownReads bool) ([]porcupine.Operation, error) {
	unknown := unknownRegOutput
	if model == "kv" {
		unknown = unknownKvOutput
	}
	b := newBuilder(unknown)
	b.keepUnknownReads = keepUnknownReads
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var ev jsonlEvent
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		process, err := ev.Process.Int64()
		if err != nil {
			return nil, fmt.Errorf("line %d: process %q is not an integer", line, ev.Process)
		}
		if ev.Type == "invoke" {
			var input interface{}
			if model == "kv" {
				input, err = kvInvocation(ev.F, ev.Value)
			} else {
				input, err = regInvocation(ev.F, ev.Value)
			}
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			b.invoke(process, input)
			continue
		}
		op := b.take(process)
		if op == nil {
			b.tick()
			continue // a completion with no invocation: nothing to check
		}
		switch ev.Type {
		case "fail":
			b.tick() // did not happen
		case "info":
			b.tick()
			b.pending = append(b.pending, op)
		case "ok":
			var output interface{}
			switch in := op.Input.(type) {
			case regInput:
				out := regOutput{swapped: in.op == opCas}
				if in.op == opRead {
					if out.value, err = parseRegValue(ev.Value); err != nil {
						return nil, fmt.Errorf("line %d: %v", line, err)
					}
				}
				output = out
			case kvInput:
				out := kvOutput{}
				if in.op == opGet {
					_, v, perr := parsePair(ev.Value)
					if perr == nil {
						out.value, perr = parseKvString(v)
					}
					if perr != nil {
						return nil, fmt.Errorf("line %d: %v", line, perr)
					}
				}
				output = out
			}
			b.ret(op, output)
		default:
			return nil, fmt.Errorf("line %d: type %q is not invoke, ok, fail or info", line, ev.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return b.operations(), nil
}

// ---- porcupine's test data: Jepsen etcd logs and kv logs ----

var jepsenLine = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s*(.*?)\s*$`)
var jepsenPair = regexp.MustCompile(`^\[(-?\d+)\s+(-?\d+)\]$`)

func jepsenValue(s string) (regValue, error) {
	if s == "nil" {
		return regValue{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return regValue{}, fmt.Errorf("value %q is not nil or an integer", s)
	}
	return regValue{set: true, n: n}, nil
}

// parseJepsenLog reads one of porcupine's Jepsen etcd logs (lines
// `INFO  jepsen.util - PROC\t:TYPE\t:F\tVALUE`; other lines are skipped).
func parseJepsenLog(r io.Reader, keepUnknownReads bool) ([]porcupine.Operation, error) {
	b := newBuilder(unknownRegOutput)
	b.keepUnknownReads = keepUnknownReads
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		m := jepsenLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		process, _ := strconv.ParseInt(m[1], 10, 64)
		typ, f, arg := m[2], m[3], m[4]
		if typ == "invoke" {
			in := regInput{}
			var err error
			switch f {
			case "read":
				in.op = opRead
			case "write":
				in.op = opWrite
				in.arg, err = jepsenValue(arg)
			case "cas":
				in.op = opCas
				p := jepsenPair.FindStringSubmatch(arg)
				if p == nil {
					return nil, fmt.Errorf("line %d: cas value %q is not [from to]", line, arg)
				}
				in.arg, _ = jepsenValue(p[1])
				in.to, _ = jepsenValue(p[2])
			default:
				return nil, fmt.Errorf("line %d: f %q is not read, write or cas", line, f)
			}
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			b.invoke(process, in)
			continue
		}
		op := b.take(process)
		if op == nil {
			b.tick()
			continue
		}
		in := op.Input.(regInput)
		switch {
		case typ == "ok" && in.op == opRead:
			v, err := jepsenValue(arg)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			b.ret(op, regOutput{value: v})
		case typ == "ok":
			b.ret(op, regOutput{swapped: in.op == opCas})
		case typ == "fail" && in.op == opCas:
			b.ret(op, regOutput{swapped: false}) // the compare failed
		case typ == "fail":
			b.ret(op, regOutput{unknown: true}) // a read that timed out
		default: // info: crashed, took effect or not
			b.tick()
			b.pending = append(b.pending, op)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return b.operations(), nil
}

var (
	ednProcess = regexp.MustCompile(`:process\s+(\d+)`)
	ednType    = regexp.MustCompile(`:type\s+:(\w+)`)
	ednF       = regexp.MustCompile(`:f\s+:(\w+)`)
	ednKey     = regexp.MustCompile(`:key\s+("(?:[^"\\]|\\.)*")`)
	ednValue   = regexp.MustCompile(`:value\s+(nil|"(?:[^"\\]|\\.)*")`)
)

func ednString(re *regexp.Regexp, s string) (string, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil || m[1] == "nil" {
		return "", m != nil
	}
	v, err := strconv.Unquote(m[1])
	return v, err == nil
}

// parseKvLog reads one of porcupine's kv logs (one EDN map a line:
// {:process P, :type :invoke|:ok|:fail|:info, :f :get|:put|:append, :key "K", :value "V"|nil}).
func parseKvLog(r io.Reader, keepUnknownReads bool) ([]porcupine.Operation, error) {
	b := newBuilder(unknownKvOutput)
	b.keepUnknownReads = keepUnknownReads
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		pm, tm, fm := ednProcess.FindStringSubmatch(text), ednType.FindStringSubmatch(text), ednF.FindStringSubmatch(text)
		if pm == nil || tm == nil || fm == nil {
			return nil, fmt.Errorf("line %d: no :process, :type or :f", line)
		}
		process, _ := strconv.ParseInt(pm[1], 10, 64)
		value, ok := ednString(ednValue, text)
		if !ok {
			return nil, fmt.Errorf("line %d: :value is not nil or a string", line)
		}
		switch tm[1] {
		case "invoke":
			key, ok := ednString(ednKey, text)
			if !ok {
				return nil, fmt.Errorf("line %d: no :key string", line)
			}
			in := kvInput{key: key, value: value}
			switch fm[1] {
			case "get":
				in.op, in.value = opGet, ""
			case "put":
				in.op = opPut
			case "append":
				in.op = opAppend
			default:
				return nil, fmt.Errorf("line %d: f %q is not get, put or append", line, fm[1])
			}
			b.invoke(process, in)
		case "ok":
			if op := b.take(process); op != nil {
				b.ret(op, kvOutput{value: value})
			} else {
				b.tick()
			}
		case "fail":
			b.take(process)
			b.tick()
		default: // info
			if op := b.take(process); op != nil {
				b.pending = append(b.pending, op)
			}
			b.tick()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return b.operations(), nil
}

// ---- the command ----

type result struct {
	Verdict    string  `json:"verdict"`
	ElapsedMs  float64 `json:"elapsed_ms"`
	Operations int     `json:"operations"`
}

// check runs porcupine on history against model with timeout (0: none).
func check(model porcupine.Model, history []porcupine.Operation, timeout time.Duration) (porcupine.CheckResult, time.Duration) {
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(model, history, timeout)
	return res, time.Since(start)
}

func verdictName(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "ok"
	case porcupine.Illegal:
		return "illegal"
	default:
		return "unknown"
	}
}

func exitCode(r porcupine.CheckResult) int {
	switch r {
	case porcupine.Ok:
		return 0
	case porcupine.Illegal:
		return 1
	default:
		return 2
	}
}

// load reads path in format ("" for the one its extension names) for modelName.
func load(path, format, modelName string, keepUnknownReads bool) ([]porcupine.Operation, error) {
	if format == "" {
		switch filepath.Ext(path) {
		case ".jsonl", ".json":
			format = "jsonl"
		case ".log":
			format = "porcupine-jepsen"
		case ".txt":
			format = "porcupine-kv"
		default:
			return nil, fmt.Errorf("cannot tell the format of %s from its extension (add --format jsonl|porcupine-jepsen|porcupine-kv)", path)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	switch format {
	case "jsonl":
		return parseJSONL(f, modelName, keepUnknownReads)
	case "porcupine-jepsen":
		if modelName != "cas-register" {
			return nil, errors.New("porcupine-jepsen histories are checked with --model cas-register")
		}
		return parseJepsenLog(f, keepUnknownReads)
	case "porcupine-kv":
		if modelName != "kv" {
			return nil, errors.New("porcupine-kv histories are checked with --model kv")
		}
		return parseKvLog(f, keepUnknownReads)
	}
	return nil, fmt.Errorf("unknown --format %q", format)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("porcupine-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelName := fs.String("model", "", "cas-register or kv")
	timeoutS := fs.Float64("timeout", 0, "give up after this many seconds and answer unknown (0: no limit)")
	format := fs.String("format", "", "jsonl, porcupine-jepsen or porcupine-kv (default: from the extension)")
	keepUnknownReads := fs.Bool("keep-unknown-reads", false, "keep reads and gets whose outcome is unknown, pending to the end (default: drop them; the verdict is the same)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: porcupine-check --model cas-register|kv [--timeout SECS] [--format F] [--keep-unknown-reads] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 3
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 3
	}
	var model porcupine.Model
	switch *modelName {
	case "cas-register":
		model = casRegisterModel
	case "kv":
		model = kvModel
	default:
		fmt.Fprintf(stderr, "porcupine-check: --model must be cas-register or kv, not %q\n", *modelName)
		return 3
	}
	history, err := load(fs.Arg(0), *format, *modelName, *keepUnknownReads)
	if err != nil {
		fmt.Fprintf(stderr, "porcupine-check: %s: %v\n", fs.Arg(0), err)
		return 3
	}
	res, elapsed := check(model, history, time.Duration(*timeoutS*float64(time.Second)))
	line, _ := json.Marshal(result{
		Verdict:    verdictName(res),
		ElapsedMs:  float64(elapsed.Microseconds()) / 1e3,
		Operations: len(history),
	})
	fmt.Fprintln(stdout, string(line))
	return exitCode(res)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
