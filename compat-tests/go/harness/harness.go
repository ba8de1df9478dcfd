// Package harness is the compat line protocol for the Go client programs
// (compat-tests/go/franz, compat-tests/go/sarama):
//
//	prog --bootstrap B --run RUNID --client ID --scenarios a,b,c
//
// prints, per scenario in order,
//
//	{"event":"start","scenario":"a"}
//	{"event":"result","scenario":"a","status":"pass|fail|unsupported","detail":...,"error":...,"ms":N}
//
// A scenario returns a detail (pass) or an error; Unsupported(...) marks it
// unsupported by the client. Each scenario gets a context with a deadline.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

const ScenarioTimeout = 90 * time.Second

type Ctx struct {
	Bootstrap, Run, Client string
}

func (c *Ctx) Topic(scenario string) string {
	return fmt.Sprintf("compat-%s-%s-%s", c.Client, scenario, c.Run)
}

func (c *Ctx) Group(scenario string) string { return c.Topic(scenario) }

type unsupported struct{ why string }

func (u unsupported) Error() string { return u.why }

// Unsupported marks the scenario as one the client cannot do.
func Unsupported(why string) error { return unsupported{why} }

type Scenario func(ctx context.Context, c *Ctx) (string, error)

// Errf is fmt.Errorf.
func Errf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// Eq fails when want != got (compared by their %#v rendering, so slices compare too).
func Eq(want, got any, what string) error {
	if fmt.Sprintf("%#v", want) != fmt.Sprintf("%#v", got) {
		return fmt.Errorf("%s: want %v, got %v", what, show(want), show(got))
	}
	return nil
}

func show(v any) string {
	if b, ok := v.([]byte); ok {
		if b == nil {
			return "null"
		}
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%v", v)
}

// BytesEq compares byte slices, telling nil (null) from empty.
func BytesEq(want, got []byte, what string) error {
	if (want == nil) != (got == nil) || !bytes.Equal(want, got) {
		return fmt.Errorf("%s: want %s, got %s", what, show(want), show(got))
	}
	return nil
}

// Ts0 is the CreateTime base every client uses: one hour back, whole seconds.
func Ts0() int64 { return (time.Now().Unix() - 3600) * 1000 }

func CodecValue(codec string, i int) string {
	s := fmt.Sprintf("%s-%d-", codec, i)
	for len(s) < 200 {
		s += "compressible payload "
	}
	return s
}

type Header struct{ Key, Value string }

type Rec struct {
	Key, Value []byte
	Headers    []Header
	Dt         int64
}

// ConsumeRecords are the records of the "consume" scenario.
func ConsumeRecords() []Rec {
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	return []Rec{
		{[]byte("k0"), []byte("v0"), []Header{{"h1", "a"}, {"h2", "b"}}, 0},
		{nil, []byte("v1"), nil, 1},
		{[]byte("k2"), []byte{}, []Header{{"h", ""}}, 2},
		{[]byte("k3"), bin, nil, 3},
		{[]byte("ключ"), []byte("значение ✓"), []Header{{"dup", "1"}, {"dup", "2"}}, 4},
		{[]byte{}, nil, nil, 5},
	}
}

const ConsumeDetail = "6 records: keys (null, empty, utf-8), values (empty, binary, null), headers (empty value, duplicate keys), timestamps"

// ConfigMismatches: got maps name -> [value, source name]; exps are {name, value, source}.
func ConfigMismatches(got map[string][2]string, exps [][3]string) []string {
	var bad []string
	for _, x := range exps {
		e, ok := got[x[0]]
		if !ok {
			bad = append(bad, "config "+x[0]+" missing from DescribeConfigs")
			continue
		}
		if e[0] != x[1] {
			bad = append(bad, fmt.Sprintf("value of %s: want %s, got %s", x[0], x[1], e[0]))
		}
		if e[1] != x[2] {
			bad = append(bad, fmt.Sprintf("source of %s (=%s): want %s, got %s", x[0], e[0], x[2], e[1]))
		}
	}
	return bad
}

// SettleConfigs describes until the expectations hold (configs reach the
// brokers asynchronously, in Kafka too) or 5 s passed; returns the mismatches left.
func SettleConfigs(describe func() (map[string][2]string, error), exps [][3]string) ([]string, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := describe()
		if err != nil {
			// Kafka answers UNKNOWN_TOPIC_OR_PARTITION until a just-created
			// topic reaches the broker's metadata cache.
			if time.Now().After(deadline) {
				return nil, err
			}
			time.Sleep(250 * time.Millisecond)
			continue
		}
		bad := ConfigMismatches(got, exps)
		if len(bad) == 0 || time.Now().After(deadline) {
			return bad, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func out(v any) {
	b, _ := json.Marshal(v)
	os.Stdout.Write(append(b, '\n'))
}

// Main parses the flags and runs the scenarios asked for.
func Main(scenarios map[string]Scenario) {
	var c Ctx
	var list string
	flag.StringVar(&c.Bootstrap, "bootstrap", "", "")
	flag.StringVar(&c.Run, "run", "", "")
	flag.StringVar(&c.Client, "client", "", "")
	flag.StringVar(&list, "scenarios", "", "")
	flag.Parse()
	for _, name := range strings.Split(list, ",") {
		if name == "" {
			continue
		}
		out(map[string]any{"event": "start", "scenario": name})
		t0 := time.Now()
		res := map[string]any{"event": "result", "scenario": name, "status": "pass", "detail": nil, "error": nil}
		fn, ok := scenarios[name]
		if !ok {
			res["status"], res["detail"] = "unsupported", "no such scenario in this client program"
		} else {
			detail, err := runOne(fn, &c)
			var u unsupported
			switch {
			case errors.As(err, &u):
				res["status"], res["detail"] = "unsupported", u.why
			case err != nil:
				res["status"], res["error"] = "fail", err.Error()
			default:
				res["detail"] = detail
			}
		}
		res["ms"] = time.Since(t0).Milliseconds()
		out(res)
	}
	os.Exit(0)
}

func runOne(fn Scenario, c *Ctx) (detail string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), ScenarioTimeout)
	defer cancel()
	type result struct {
		d string
		e error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- result{"", fmt.Errorf("panic: %v", r)}
			}
		}()
		d, e := fn(ctx, c)
		ch <- result{d, e}
	}()
	select {
	case r := <-ch:
		return r.d, r.e
	case <-ctx.Done():
		return "", fmt.Errorf("scenario timed out after %s", ScenarioTimeout)
	}
}
