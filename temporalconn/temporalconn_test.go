package temporalconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The connection is read as the temporal CLI reads it: the profile, the
// TEMPORAL_* variables over it, the --namespace flag over both.
func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "client.pem")
	if err := os.WriteFile(cert, []byte("not read until dial"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(file, []byte(`
[profile.default]
address = "prod.internal:7233"
namespace = "prod"

[profile.staging]
address = "staging.internal:7233"
namespace = "staging"
api_key = "sekrit-key"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                string
		req                 Request
		env                 MapEnv
		wantAddr, wantNS    string
		wantTLS, wantAPIKey bool
	}{
		{"nothing set: the defaults", Request{}, MapEnv{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "none.toml")},
			DefaultAddress, DefaultNamespace, false, false},
		{"the default profile", Request{}, MapEnv{}, "prod.internal:7233", "prod", false, false},
		{"env over profile", Request{}, MapEnv{"TEMPORAL_ADDRESS": "other:7233", "TEMPORAL_NAMESPACE": "envns"},
			"other:7233", "envns", false, false},
		{"flag over env and profile", Request{Namespace: "flagns"}, MapEnv{"TEMPORAL_NAMESPACE": "envns"},
			"prod.internal:7233", "flagns", false, false},
		{"TEMPORAL_PROFILE picks the profile; an API key turns TLS on", Request{}, MapEnv{"TEMPORAL_PROFILE": "staging"},
			"staging.internal:7233", "staging", true, true},
		{"a named profile alone ignores the process's variables", Request{Profile: "staging", ProfileOnly: true},
			MapEnv{"TEMPORAL_ADDRESS": "own:7233", "TEMPORAL_NAMESPACE": "own", "TEMPORAL_PROFILE": "default"},
			"staging.internal:7233", "staging", true, true},
		{"TEMPORAL_TLS=false wins over the API key's TLS", Request{Profile: "staging"}, MapEnv{"TEMPORAL_TLS": "false"},
			"staging.internal:7233", "staging", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.env["TEMPORAL_CONFIG_FILE"]; !ok {
				tc.env["TEMPORAL_CONFIG_FILE"] = file
			}
			tc.req.Env = tc.env
			c, err := Load(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if c.Options.HostPort != tc.wantAddr || c.Options.Namespace != tc.wantNS {
				t.Errorf("address %s namespace %s; want %s %s", c.Options.HostPort, c.Options.Namespace, tc.wantAddr, tc.wantNS)
			}
			if got := c.Options.ConnectionOptions.TLS != nil; got != tc.wantTLS {
				t.Errorf("TLS %v, want %v", got, tc.wantTLS)
			}
			if got := c.Options.Credentials != nil; got != tc.wantAPIKey {
				t.Errorf("API key credentials %v, want %v", got, tc.wantAPIKey)
			}
			if strings.Contains(c.String(), "sekrit") {
				t.Errorf("String() shows the API key: %s", c)
			}
		})
	}

	// Settings that cannot work are refused with the names to set.
	for _, tc := range []struct {
		name string
		req  Request
		env  MapEnv
		want []string
	}{
		{"a named profile that is not there", Request{Profile: "nosuch"}, MapEnv{},
			[]string{`Temporal profile "nosuch" is not in ` + file, "[profile.nosuch]", "TEMPORAL_CONFIG_FILE"}},
		{"TEMPORAL_PROFILE naming none", Request{}, MapEnv{"TEMPORAL_PROFILE": "gone"},
			[]string{`Temporal profile "gone"`}},
		{"a certificate without its key", Request{}, MapEnv{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert},
			[]string{"set TEMPORAL_TLS_CLIENT_KEY_PATH (or a profile's tls.client_key_path)"}},
		{"a key without its certificate", Request{}, MapEnv{"TEMPORAL_TLS_CLIENT_KEY_PATH": cert},
			[]string{"set TEMPORAL_TLS_CLIENT_CERT_PATH (or a profile's tls.client_cert_path)"}},
		{"a CA file that is not there", Request{}, MapEnv{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": filepath.Join(dir, "ca.pem")},
			[]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH or a profile's tls.server_ca_cert_path", "no such file"}},
		{"a file that is not TOML", Request{}, MapEnv{"TEMPORAL_CONFIG_FILE": cert},
			[]string{"Temporal config file", "TEMPORAL_CONFIG_FILE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.env["TEMPORAL_CONFIG_FILE"]; !ok {
				tc.env["TEMPORAL_CONFIG_FILE"] = file
			}
			tc.req.Env = tc.env
			_, err := Load(tc.req)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to say %q", err, w)
				}
			}
		})
	}
}
