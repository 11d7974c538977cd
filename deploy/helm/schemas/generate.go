//go:build ignore

// generate writes the JSON schemas kubeconform checks the Helm chart's
// resources against, so that the check runs offline (CI reaches the Go
// module proxy but not the sites kubeconform downloads schemas from).
//
//	go run deploy/helm/schemas/generate.go      # from the repository root
//
// The sources are Go modules on the proxy that carry the upstream API
// definitions as data:
//
//   - k8s.io/kubernetes: api/openapi-spec/swagger.json, the OpenAPI spec
//     the API server serves, for the built-in kinds;
//   - github.com/prometheus-operator/prometheus-operator: the CRDs of
//     ServiceMonitor and PrometheusRule (example/prometheus-operator-crd).
//
// Each kind becomes one file in kubeconform's own layout,
// v<version>-standalone-strict/<kind>-<group>-<version>.json: the kind's
// definition with every definition it reaches under "definitions", and
// "additionalProperties": false on every object that lists its properties,
// which is what makes `kubeconform -strict` reject unknown fields. Only the
// kinds the chart renders are written; a kind without a file fails the
// test, which names this command. Descriptions are dropped: kubeconform
// never prints them, and they are most of the size.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

const (
	kubernetes  = "k8s.io/kubernetes@v1.36.3"
	operator    = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
	kubeVersion = "1.36.3" // kubeconform -kubernetes-version
	objectMeta  = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

// builtins are the definitions, in swagger.json, of the built-in kinds the
// chart renders.
var builtins = []string{
	"io.k8s.api.apps.v1.Deployment",
	"io.k8s.api.batch.v1.Job",
	"io.k8s.api.core.v1.ConfigMap",
	"io.k8s.api.core.v1.Secret",
	"io.k8s.api.core.v1.Service",
	"io.k8s.api.core.v1.ServiceAccount",
}

// crds are the operator's CRD files for the optional monitoring kinds.
var crds = []string{
	"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
	"example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
}

type schema = map[string]any

// overrides replace definitions whose swagger type is narrower than what
// the API server accepts: a quantity is written as a string ("500m") or a
// number (1).
var overrides = map[string]schema{
	"io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": []any{schema{"type": "string"}, schema{"type": "number"}}},
}

func main() {
	out := filepath.Join("deploy", "helm", "schemas", "v"+kubeVersion+"-standalone-strict")
	if _, err := os.Stat("go.mod"); err != nil {
		log.Fatal("run from the repository root: go run deploy/helm/schemas/generate.go")
	}
	if err := os.RemoveAll(out); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		log.Fatal(err)
	}

	var spec struct {
		Definitions map[string]schema `json:"definitions"`
	}
	readJSON(filepath.Join(moduleDir(kubernetes), "api", "openapi-spec", "swagger.json"), &spec)
	defs := spec.Definitions
	for _, name := range builtins {
		d, ok := defs[name]
		if !ok {
			log.Fatalf("%s: no definition %s", kubernetes, name)
		}
		gvk := d["x-kubernetes-group-version-kind"].([]any)[0].(map[string]any)
		write(out, gvk["kind"].(string), gvk["group"].(string), gvk["version"].(string), schema{"$ref": "#/definitions/" + name}, defs)
	}

	opDir := moduleDir(operator)
	for _, f := range crds {
		var crd struct {
			Spec struct {
				Group string `yaml:"group"`
				Names struct {
					Kind string `yaml:"kind"`
				} `yaml:"names"`
				Versions []struct {
					Name   string `yaml:"name"`
					Schema struct {
						OpenAPIV3Schema schema `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		b, err := os.ReadFile(filepath.Join(opDir, f))
		if err != nil {
			log.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &crd); err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			s := v.Schema.OpenAPIV3Schema
			// A CRD's schema says only `metadata: {type: object}`; the API
			// server checks it as every object's ObjectMeta.
			s["properties"].(map[string]any)["metadata"] = schema{"$ref": "#/definitions/" + objectMeta}
			write(out, crd.Spec.Names.Kind, crd.Spec.Group, v.Name, s, defs)
		}
	}
}

// write converts root and the definitions it reaches and writes them to
// <kind>-<group>-<version>.json, named as kubeconform looks them up.
func write(dir, kind, group, version string, root schema, defs map[string]schema) {
	used := map[string]any{}
	root = convert(root).(schema)
	var reach func(v any)
	reach = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/definitions/")
				if _, seen := used[name]; !seen {
					d, ok := defs[name]
					if !ok {
						log.Fatalf("%s: $ref %s is not defined", kind, ref)
					}
					if o, ok := overrides[name]; ok {
						d = o
					}
					used[name] = convert(d)
					reach(used[name])
				}
			}
			for _, x := range v {
				reach(x)
			}
		case []any:
			for _, x := range v {
				reach(x)
			}
		}
	}
	reach(root)
	if len(used) > 0 {
		root["definitions"] = used
	}
	suffix := "-" + strings.ToLower(strings.Split(group, ".")[0])
	if group == "" {
		suffix = ""
	}
	name := fmt.Sprintf("%s%s-%s.json", strings.ToLower(kind), suffix, version)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(root); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%d definitions)\n", filepath.Join(dir, name), len(used))
}

// convert returns a copy of the schema s as kubeconform's strict schemas
// have it: objects that list properties allow no others, int-or-string
// and quantities take a number or a string (as the API server does), CRDs'
// `nullable` allows null, descriptions are gone.
func convert(v any) any {
	s, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := schema{}
	for k, x := range s {
		switch k {
		case "description", "x-kubernetes-group-version-kind":
		case "properties", "definitions", "patternProperties":
			props := schema{}
			for name, p := range x.(map[string]any) {
				props[name] = convert(p)
			}
			out[k] = props
		case "items", "additionalProperties", "not":
			out[k] = convert(x)
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, p := range x.([]any) {
				list = append(list, convert(p))
			}
			out[k] = list
		default:
			out[k] = x
		}
	}
	if out["format"] == "int-or-string" || out["x-kubernetes-int-or-string"] == true {
		delete(out, "type")
		delete(out, "anyOf")
		delete(out, "format")
		out["oneOf"] = []any{schema{"type": "string"}, schema{"type": "integer"}}
	}
	if _, ok := out["properties"]; ok && out["x-kubernetes-preserve-unknown-fields"] != true {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
	}
	if out["nullable"] == true {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
	}
	return out
}

// moduleDir downloads module@version into the module cache (outside this
// module, so go.mod and go.sum are untouched) and returns its directory.
func moduleDir(mod string) string {
	tmp, err := os.MkdirTemp("", "schemas")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(b, &m); err != nil || jerr != nil || m.Error != "" {
		log.Fatalf("go mod download %s: %v %s", mod, err, m.Error)
	}
	return m.Dir
}

func readJSON(path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
}
