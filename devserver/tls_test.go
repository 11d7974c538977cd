package devserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/temporalconn"
)

// `envsync dev --tls` requires client certificates: a client with the
// generated one works, and every other is refused at dial, quickly, with
// the setting to set; the Web UI reaches the frontend with the client
// certificate.
func TestTLSRequiresClientCertificate(t *testing.T) {
	dir := t.TempDir()
	port, _ := freePort()
	uiPort, _ := freePort()
	s, err := Start(Options{Dir: dir, Port: port, UIPort: uiPort, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for _, f := range []string{s.Certs.ServerKey, s.Certs.ClientKey} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}
	full := temporalconn.MapEnv{
		"TEMPORAL_ADDRESS": s.Address, "TEMPORAL_NAMESPACE": s.Namespace, "TEMPORAL_CONFIG_FILE": dir + "/none.toml",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": s.Certs.CA,
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    s.Certs.ClientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": s.Certs.ClientKey,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	conn, err := temporalconn.Load(temporalconn.Request{Env: full})
	if err != nil {
		t.Fatal(err)
	}
	c, err := conn.Dial(ctx, nil, nil)
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	defer c.Close()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "over-tls", TaskQueue: "nobody-polls"}, "Push"); err != nil {
		t.Fatalf("start a run over mTLS: %v", err)
	}

	without := func(drop ...string) temporalconn.MapEnv {
		e := temporalconn.MapEnv{}
		for k, v := range full {
			e[k] = v
		}
		for _, k := range drop {
			delete(e, k)
		}
		return e
	}
	for _, tc := range []struct {
		name string
		env  temporalconn.MapEnv
		want string
	}{
		{"no client certificate", without("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH"),
			"set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"server CA not trusted", without("TEMPORAL_TLS_SERVER_CA_CERT_PATH"), "set TEMPORAL_TLS_SERVER_CA_CERT_PATH"},
		{"plain text", temporalconn.MapEnv{"TEMPORAL_ADDRESS": s.Address, "TEMPORAL_CONFIG_FILE": dir + "/none.toml"},
			"set TEMPORAL_TLS=true"},
		{"client certificate signed by another CA", func() temporalconn.MapEnv {
			other, err := LoadOrCreateCerts(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			e := without()
			e["TEMPORAL_TLS_CLIENT_CERT_PATH"], e["TEMPORAL_TLS_CLIENT_KEY_PATH"] = other.ClientCert, other.ClientKey
			return e
		}(), "refused the client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := temporalconn.Load(temporalconn.Request{Env: tc.env})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c, err := conn.Dial(ctx, nil, nil)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to say %q", err, tc.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("refused after %v; want it at dial, not after a long wait", d)
			}
		})
	}

	// The UI's API answers only if the UI server reached the frontend.
	url := fmt.Sprintf("http://%s:%d/api/v1/namespaces/%s", host, uiPort, s.Namespace)
	var status int
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			status = resp.StatusCode
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if status == http.StatusOK {
				break
			}
		}
	}
	if status != http.StatusOK {
		t.Errorf("Web UI API %s answered %d: %s", url, status, body)
	}
}
