// Command promql-check parses PromQL expressions with Prometheus' own parser
// (github.com/prometheus/prometheus/promql/parser) and reports, for each one,
// the parse error or the metric names it selects. The Grafana dashboard test
// (tests/unit/test_grafana_dashboard.py) feeds it every panel's queries so a
// typo in a query, or a metric that no service exports, fails CI without a
// running Prometheus.
//
// Usage:
//
//	promql-check < expressions.json
//
// stdin: a JSON array of strings. stdout: a JSON array with one object per
// expression, in order: {"expr": ..., "error": "" or the parse error,
// "metrics": [sorted metric names of its selectors]}. Exit 0 when the input
// was read (even if some expressions do not parse: the caller decides), 2 when
// stdin is not a JSON array of strings.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	Expr    string   `json:"expr"`
	Error   string   `json:"error"`
	Metrics []string `json:"metrics"`
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(stdin io.Reader, stdout, stderr io.Writer) int {
	var exprs []string
	if err := json.NewDecoder(stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(stderr, "promql-check: stdin must be a JSON array of strings: %v\n", err)
		return 2
	}
	p := parser.NewParser(parser.Options{})
	results := make([]result, 0, len(exprs))
	for _, e := range exprs {
		results = append(results, check(p, e))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		fmt.Fprintf(stderr, "promql-check: %v\n", err)
		return 1
	}
	return 0
}

func check(p parser.Parser, expr string) result {
	r := result{Expr: expr, Metrics: []string{}}
	node, err := p.ParseExpr(expr)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	seen := map[string]bool{}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			// {__name__="..."} form: take the equality matcher's value.
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			name = "<no metric name>"
		}
		seen[name] = true
		return nil
	})
	for name := range seen {
		r.Metrics = append(r.Metrics, name)
	}
	sort.Strings(r.Metrics)
	return r
}
