package deploy

// Tests of the Helm chart (helm/envsync) and the Grafana dashboard
// (grafana/envsync.json), without a cluster: helm lint; helm template
// through kubeconform -strict against the Kubernetes and
// prometheus-operator schemas vendored in helm/schemas; every container's
// arguments parsed by the envsync binary itself; every PromQL expression
// of the dashboard and the alert rules naming only metrics envsync
// serves. helm and kubeconform come from `bash .ci/deps`.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"gopkg.in/yaml.v3"
)

const (
	chartDir = "helm/envsync"
	// kubeVersion is the Kubernetes release whose schemas
	// helm/schemas/generate.go vendored.
	kubeVersion = "1.36.3"
)

// valueSets are the values the chart is rendered with: its defaults, and
// ci/full-values.yaml, which sets every value.
var valueSets = []struct{ name, file string }{
	{"default", ""},
	{"full", chartDir + "/ci/full-values.yaml"},
}

// tool finds helm or kubeconform on PATH or where go install puts it.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed: run `bash .ci/deps` from the repository root (it installs %s with go install)", name, name)
	return ""
}

func run(t *testing.T, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out, nil
}

func TestChartLint(t *testing.T) {
	helm := tool(t, "helm")
	for _, vs := range valueSets {
		args := []string{"lint", "--strict", chartDir}
		if vs.file != "" {
			args = append(args, "-f", vs.file)
		}
		if out, err := run(t, nil, helm, args...); err != nil {
			t.Errorf("%s values: %v", vs.name, err)
		} else {
			t.Logf("%s values: %s", vs.name, bytes.TrimSpace(out))
		}
	}
}

// render runs helm template with the values file ("" for the defaults).
func render(t *testing.T, valuesFile string) []byte {
	t.Helper()
	args := []string{"template", "envsync", chartDir, "--namespace", "envsync", "--kube-version", kubeVersion}
	if valuesFile != "" {
		args = append(args, "-f", valuesFile)
	}
	out, err := run(t, nil, tool(t, "helm"), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type object = map[string]any

// objects decodes a multi-document YAML stream.
func objects(t *testing.T, manifests []byte) []object {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(manifests))
	var out []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("rendered chart: %v", err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

var summaryLine = regexp.MustCompile(`Summary: (\d+) resources? found .* - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)`)

// kubeconform validates manifests offline against helm/schemas and
// returns how many resources it found valid, and its output.
func kubeconform(t *testing.T, manifests []byte) (valid, total int, output string) {
	t.Helper()
	// The schemas are in kubeconform's own layout; -strict selects the
	// -strict directory (objects allow no unknown fields) and rejects
	// duplicate keys. No schema is skipped or ignored: the CRDs
	// (ServiceMonitor, PrometheusRule) have schemas there too.
	out, err := run(t, manifests, tool(t, "kubeconform"), "-strict", "-summary",
		"-kubernetes-version", kubeVersion,
		"-schema-location", "helm/schemas/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}/{{.ResourceKind}}{{.KindSuffix}}.json",
		"-")
	output = string(out)
	if err != nil {
		output = err.Error()
	}
	m := summaryLine.FindStringSubmatch(output)
	if m == nil {
		t.Fatalf("kubeconform printed no summary:\n%s", output)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	return n(2), n(1), output
}

func TestChartRendersValidKubernetes(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			manifests := render(t, vs.file)
			docs := objects(t, manifests)
			valid, total, out := kubeconform(t, manifests)
			if total != len(docs) || valid != total {
				t.Fatalf("kubeconform: %d of %d resources valid (helm rendered %d); a kind without a schema needs `go run deploy/helm/schemas/generate.go` with the kind added:\n%s", valid, total, len(docs), out)
			}
			kinds := map[string]int{}
			for _, d := range docs {
				kinds[d["kind"].(string)]++
			}
			t.Logf("%d resources valid: %v", valid, kinds)
			if vs.name == "full" {
				want := map[string]int{"Deployment": 3, "Service": 3, "ConfigMap": 1, "Job": 1, "ServiceAccount": 1, "ServiceMonitor": 1, "PrometheusRule": 1}
				for k, n := range want {
					if kinds[k] != n {
						t.Errorf("full values rendered %d %s, want %d", kinds[k], k, n)
					}
				}
			}
		})
	}

	// The check can fail: a container with a field Kubernetes does not
	// know, and a port given as a string, are both refused.
	t.Run("rejects", func(t *testing.T) {
		docs := objects(t, render(t, ""))
		for _, d := range docs {
			if d["kind"] == "Deployment" {
				c := dig(d, "spec", "template", "spec", "containers").([]any)[0].(object)
				c["bogusField"] = true
				c["ports"].([]any)[0].(object)["containerPort"] = "9464"
			}
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		for _, d := range docs {
			if err := enc.Encode(d); err != nil {
				t.Fatal(err)
			}
		}
		valid, total, out := kubeconform(t, buf.Bytes())
		if valid != total-1 || !strings.Contains(out, "bogusField") || !strings.Contains(out, "containerPort") {
			t.Fatalf("kubeconform accepted a broken Deployment (%d of %d valid):\n%s", valid, total, out)
		}
	})
}

// dig follows map keys.
func dig(o any, keys ...string) any {
	for _, k := range keys {
		m, ok := o.(object)
		if !ok {
			return nil
		}
		o = m[k]
	}
	return o
}

// buildEnvsync builds the lean envsync binary, the one the image runs (see
// ../Dockerfile): its commands' flags are the default build's.
func buildEnvsync(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "envsync")
	cmd := exec.Command("go", "build", "-tags", "lean", "-o", bin, "./cmd/envsync")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags lean ./cmd/envsync: %v\n%s", err, out)
	}
	return bin
}

// acceptsArgs says whether envsync parses args: `envsync CMD ARGS --help`
// parses every argument before it reaches --help, and exits 0 with the
// command's help only when all of them parse (an unknown flag, a bad value
// or a stray argument exits 2 with the reason).
func acceptsArgs(t *testing.T, bin string, args []string) error {
	t.Helper()
	cmd := exec.Command(bin, append(slices.Clone(args), "--help")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, firstLine(stderr.String()))
	}
	if !strings.HasPrefix(stdout.String(), "Usage: envsync ") {
		return fmt.Errorf("printed no help: %q", firstLine(stdout.String()))
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func TestChartWorkerArgsAcceptedByEnvsync(t *testing.T) {
	bin := buildEnvsync(t)
	if err := acceptsArgs(t, bin, []string{"worker", "--no-such-flag=1"}); err == nil {
		t.Fatal("envsync worker --no-such-flag=1 --help exited 0: the check below would prove nothing")
	}
	// A flag that reads its file while parsing (--age-identity) gets a
	// stand-in for the file its Secret would hold.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	standIn := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(standIn, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			var hosts []string
			central := 0
			for _, d := range objects(t, render(t, vs.file)) {
				if d["kind"] != "Deployment" && d["kind"] != "Job" {
					continue
				}
				name := fmt.Sprintf("%s %s", d["kind"], dig(d, "metadata", "name"))
				pod := dig(d, "spec", "template", "spec").(object)
				checkPodSecurity(t, name, pod)
				for _, c := range pod["containers"].([]any) {
					c := c.(object)
					args := containerArgs(t, name, pod, c, standIn)
					if err := acceptsArgs(t, bin, args); err != nil {
						t.Errorf("%s: envsync does not accept %q: %v", name, args, err)
					}
					if args[0] == "worker" {
						for _, a := range args {
							if h, ok := strings.CutPrefix(a, "--host="); ok {
								hosts = append(hosts, h)
							}
							if a == "--central" {
								central++
							}
						}
					}
				}
			}
			slices.Sort(hosts)
			want := map[string][]string{"default": nil, "full": {"db-production", "db-staging"}}[vs.name]
			if !slices.Equal(hosts, want) || central != 1 {
				t.Errorf("workers: --host %v and %d --central, want --host %v and one central", hosts, central, want)
			}
		})
	}
}

// containerArgs returns c's arguments, checking that every absolute path
// among them lies in one of the container's volumes (or under /usr, the
// image's own programs, as --pg-bindir names); paths into a Secret become
// standIn.
func containerArgs(t *testing.T, name string, pod, c object, standIn string) []string {
	t.Helper()
	secretVolumes := map[string]bool{}
	for _, v := range pod["volumes"].([]any) {
		if v := v.(object); v["secret"] != nil {
			secretVolumes[v["name"].(string)] = true
		}
	}
	var args []string
	for _, a := range c["args"].([]any) {
		arg := a.(string)
		flag, value, isFlag := strings.Cut(arg, "=")
		if !isFlag {
			flag, value = "", arg
		}
		if strings.HasPrefix(value, "/") && !strings.HasPrefix(value, "/usr/") {
			volume := ""
			for _, m := range c["volumeMounts"].([]any) {
				m := m.(object)
				mp := m["mountPath"].(string)
				if value == mp || strings.HasPrefix(value, strings.TrimSuffix(mp, "/")+"/") {
					volume = m["name"].(string)
				}
			}
			switch {
			case volume == "":
				t.Errorf("%s: argument %s names %s, which no volume of the container holds (the root filesystem is read-only and holds none of it)", name, arg, value)
			case secretVolumes[volume] && isFlag:
				arg = flag + "=" + standIn
			}
		}
		args = append(args, arg)
	}
	return args
}

// checkPodSecurity checks the security settings the chart promises for
// every pod: non-root, read-only root filesystem, no privilege escalation,
// no capabilities.
func checkPodSecurity(t *testing.T, name string, pod object) {
	t.Helper()
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", name)
	}
	if pod["automountServiceAccountToken"] != false {
		t.Errorf("%s: the pod mounts a service account token it never uses", name)
	}
	for _, c := range pod["containers"].([]any) {
		sc, _ := c.(object)["securityContext"].(object)
		drop, _ := dig(sc, "capabilities", "drop").([]any)
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || !slices.Contains(drop, any("ALL")) {
			t.Errorf("%s: container securityContext %v: want readOnlyRootFilesystem true, allowPrivilegeEscalation false, capabilities.drop [ALL]", name, sc)
		}
	}
}

// exportedMetrics returns the series names a worker's /metrics can hold:
// the metrics metrics/metrics.go registers and the Temporal SDK metrics
// metrics/sdk.go serves, as Prometheus names them (a histogram as its
// _bucket, _sum and _count). go_* and process_* (the Go and process
// collectors metrics.New registers) are allowed by prefix.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	histogram := func(n string) {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[n+s] = true
		}
	}

	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../metrics/metrics.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		sel, ok := lit.Type.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
			return true
		}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Name" {
				continue
			}
			bl, ok := kv.Value.(*ast.BasicLit)
			if !ok {
				t.Fatalf("metrics/metrics.go: %s Name is not a string literal; teach this test to read it", sel.Sel.Name)
			}
			name, _ := strconv.Unquote(bl.Value)
			switch sel.Sel.Name {
			case "CounterOpts", "GaugeOpts":
				names[name] = true
			case "HistogramOpts":
				histogram(name)
			case "SummaryOpts":
				names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
			default:
				t.Fatalf("metrics/metrics.go: %s: teach this test which series it makes", sel.Sel.Name)
			}
		}
		return true
	})
	if !names["envsync_runs_total"] {
		t.Fatalf("found no envsync_runs_total in metrics/metrics.go (found %v): the scan is broken", names)
	}

	// The SDK names its metrics with the constants of its
	// internal/common/metrics package; metrics/sdk.go serves a timer as a
	// histogram named <name>_seconds and the rest under their own names.
	sdkSrc, err := os.ReadFile("../metrics/sdk.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sdkSrc, []byte(`name += "_seconds"`)) {
		t.Fatal(`metrics/sdk.go no longer names a timer <name>_seconds: update exportedMetrics`)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk")
	cmd.Dir = ".."
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m go.temporal.io/sdk: %v", err)
	}
	internal := filepath.Join(strings.TrimSpace(string(dir)), "internal")
	consts := sdkMetricConstants(t, filepath.Join(internal, "common", "metrics", "constants.go"))
	timers := sdkTimers(t, internal, consts)
	for _, v := range consts {
		if !strings.HasPrefix(v, "temporal_") {
			continue
		}
		if timers[v] {
			histogram(v + "_seconds")
		} else {
			names[v] = true
		}
	}
	if len(timers) == 0 || !names["temporal_request"] {
		t.Fatalf("found no SDK metrics in %s: the scan is broken", internal)
	}
	return names
}

// sdkMetricConstants returns the string constants of the SDK's metrics
// names file by Go constant name.
func sdkMetricConstants(t *testing.T, path string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf := types.Config{Importer: importer.Default(), Error: func(error) {}}
	pkg, _ := conf.Check("metrics", fset, []*ast.File{f}, nil)
	out := map[string]string{}
	for _, name := range pkg.Scope().Names() {
		if c, ok := pkg.Scope().Lookup(name).(*types.Const); ok && c.Val().Kind() == constant.String {
			out[name] = constant.StringVal(c.Val())
		}
	}
	return out
}

// sdkTimers returns the metric names the SDK records with Timer: those
// passed as metrics.<Constant> to a .Timer call in its internal package.
func sdkTimers(t *testing.T, dir string, consts map[string]string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	timers := map[string]bool{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			if fn, ok := call.Fun.(*ast.SelectorExpr); !ok || fn.Sel.Name != "Timer" {
				return true
			}
			if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
				if v, ok := consts[arg.Sel.Name]; ok {
					timers[v] = true
				}
			}
			return true
		})
	}
	return timers
}

// promQLMetricNames returns the metric names a PromQL expression selects:
// its identifiers less functions and aggregations (followed by "("),
// keywords, label names (in {...} and by/without/on/ignoring/group_x
// lists), strings, numbers, durations and ranges ([...]).
func promQLMetricNames(expr string) []string {
	keywords := map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "atan2": true}
	// Aggregations may have their by/without list before their "(".
	aggregations := map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
		"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true}
	labelLists := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	var names []string
	s := expr
	skipTo := func(i int, close byte) int { // index after the closing byte, strings skipped
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '"', '\'', '`':
				q := s[j]
				for j++; j < len(s) && s[j] != q; j++ {
					if s[j] == '\\' && q != '`' {
						j++
					}
				}
			case close:
				return j + 1
			}
		}
		return len(s)
	}
	isWord := func(b byte) bool {
		return b == '_' || b == ':' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
	}
	nextNonSpace := func(i int) int {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		return i
	}
	for i := 0; i < len(s); {
		b := s[i]
		switch {
		case b == '"' || b == '\'' || b == '`': // a string
			j := i + 1
			for j < len(s) && s[j] != b {
				if s[j] == '\\' && b != '`' {
					j++
				}
				j++
			}
			i = j + 1
		case b == '{':
			i = skipTo(i, '}')
		case b == '[':
			i = skipTo(i, ']')
		case b == '$': // a Grafana variable ($task, ${datasource}, $__range)
			i++
			if i < len(s) && s[i] == '{' {
				i = skipTo(i, '}')
			}
			for i < len(s) && isWord(s[i]) {
				i++
			}
		case b >= '0' && b <= '9' || b == '.': // a number or duration
			for i < len(s) && (isWord(s[i]) || s[i] == '.') {
				i++
			}
		case isWord(b):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			word := s[i:j]
			k := nextNonSpace(j)
			switch {
			case labelLists[strings.ToLower(word)] && k < len(s) && s[k] == '(':
				j = skipTo(k, ')')
			case keywords[strings.ToLower(word)], aggregations[strings.ToLower(word)]:
			case k < len(s) && s[k] == '(': // a function
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

func TestDashboardPromQLParser(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (task, outcome) (increase(envsync_runs_total{action="drill", task=~"$task"}[$__range]))`, []string{"envsync_runs_total"}},
		{`time() - max by (task) (envsync_last_drill_success_timestamp_seconds) > 8 * 86400`, []string{"envsync_last_drill_success_timestamp_seconds"}},
		{`(a{outcome="failed"} unless a offset 2h) or increase(b_total[1h]) > bool 0`, []string{"a", "a", "b_total"}},
		{`histogram_quantile(0.95, sum without (instance) (rate(x_bucket{le!="+Inf", q='it\'s'}[5m])))`, []string{"x_bucket"}},
		{`foo / on (task) group_left (title) bar and ${datasource_var}`, []string{"foo", "bar"}},
	} {
		if got := promQLMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promQLMetricNames(%s) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// dashboardExpressions returns every PromQL expression of the dashboard:
// panel targets and template variable queries (label_values(EXPR, label)
// gives EXPR).
func dashboardExpressions(t *testing.T, dash any) []string {
	t.Helper()
	labelValues := regexp.MustCompile(`^\s*label_values\((.*),\s*\w+\s*\)\s*$`)
	var exprs []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, k)
			}
		case []any:
			for _, x := range v {
				walk(x, key)
			}
		case string:
			switch {
			case key == "expr":
				exprs = append(exprs, v)
			case key == "query" || key == "definition":
				if m := labelValues.FindStringSubmatch(v); m != nil {
					exprs = append(exprs, m[1])
				}
			}
		}
	}
	walk(dash, "")
	return exprs
}

func readDashboard(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("grafana/envsync.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/envsync.json: %v", err)
	}
	return dash
}

func TestChartAndDashboardNameOnlyExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	check := func(where, expr string) []string {
		names := promQLMetricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: found no metric in %q", where, expr)
		}
		for _, n := range names {
			if !exported[n] && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
				t.Errorf("%s: %s is not a metric envsync serves (metrics/metrics.go, the Temporal SDK's through metrics/sdk.go, go_*, process_*): %s", where, n, expr)
			}
		}
		return names
	}

	var used []string
	exprs := dashboardExpressions(t, readDashboard(t))
	for _, e := range exprs {
		used = append(used, check("grafana/envsync.json", e)...)
	}
	for _, want := range []string{"envsync_runs_total", "envsync_last_success_timestamp_seconds", "envsync_step_duration_seconds_bucket", "envsync_bytes_total", "envsync_last_drill_success_timestamp_seconds"} {
		if !slices.Contains(used, want) {
			t.Errorf("grafana/envsync.json shows nothing of %s", want)
		}
	}
	t.Logf("dashboard: %d expressions", len(exprs))

	alerts := map[string][]string{}
	for _, d := range objects(t, render(t, valueSets[1].file)) {
		if d["kind"] != "PrometheusRule" {
			continue
		}
		for _, g := range dig(d, "spec", "groups").([]any) {
			for _, r := range g.(object)["rules"].([]any) {
				r := r.(object)
				alerts[fmt.Sprint(r["alert"])] = check("PrometheusRule "+fmt.Sprint(r["alert"]), r["expr"].(string))
			}
		}
	}
	for alert, metric := range map[string]string{
		"EnvsyncTaskStale":    "envsync_last_success_timestamp_seconds",
		"EnvsyncRunFailed":    "envsync_runs_total",
		"EnvsyncDrillOverdue": "envsync_last_drill_success_timestamp_seconds",
	} {
		if !slices.Contains(alerts[alert], metric) {
			t.Errorf("PrometheusRule: alert %s on %s missing (rules: %v)", alert, metric, alerts)
		}
	}
}

func TestDashboardUsesDatasourceVariable(t *testing.T) {
	dash := readDashboard(t)
	var ds object
	for _, v := range dig(dash, "templating", "list").([]any) {
		if v := v.(object); v["type"] == "datasource" {
			ds = v
		}
	}
	if ds == nil || ds["query"] != "prometheus" {
		t.Fatalf("no Prometheus datasource template variable: %v", ds)
	}
	want := "${" + ds["name"].(string) + "}"
	ids := map[float64]bool{}
	for _, p := range dash["panels"].([]any) {
		p := p.(object)
		if ids[p["id"].(float64)] {
			t.Errorf("panel id %v twice", p["id"])
		}
		ids[p["id"].(float64)] = true
		if p["type"] == "row" {
			continue
		}
		targets, _ := p["targets"].([]any)
		if dig(p, "datasource", "uid") != want || len(targets) == 0 {
			t.Errorf("panel %q: datasource %v, %d targets; want uid %s and targets", p["title"], p["datasource"], len(targets), want)
		}
		for _, tg := range targets {
			if dig(tg, "datasource", "uid") != want {
				t.Errorf("panel %q: a target's datasource is %v, want uid %s", p["title"], dig(tg, "datasource"), want)
			}
		}
	}
}
