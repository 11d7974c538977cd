package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Icinga sends results through Icinga 2's REST API
// (POST /v1/actions/process-check-result).
type Icinga struct {
	url, user, password string
	client              *http.Client
}

// NewIcinga connects to the API at url (https://host:5665), trusting the CA
// in caFile (empty: the system's roots). The password comes from the worker's
// environment or a file, never from a task.
func NewIcinga(url, caFile, user, password string) (*Icinga, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("icinga: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("icinga: %s holds no PEM certificate", caFile)
		}
		tlsConf.RootCAs = pool
	}
	return &Icinga{url: strings.TrimRight(url, "/"), user: user, password: password,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}}, nil
}

// Send posts one result.
func (i *Icinga) Send(ctx context.Context, r Result) error {
	body, _ := json.Marshal(map[string]any{
		"type":          "Service",
		"filter":        "host.name == h && service.name == s",
		"filter_vars":   map[string]string{"h": r.Host, "s": r.Service},
		"exit_status":   r.Status,
		"plugin_output": r.Output,
		"check_source":  "envsync",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.url+"/v1/actions/process-check-result", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(i.user, i.password)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := i.client.Do(req)
	if err != nil {
		return fmt.Errorf("icinga API %s: %w", i.url, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("icinga API %s refused API user %q (401): check the user and its password file", i.url, i.user)
	case resp.StatusCode == http.StatusNotFound || bytes.Contains(answer, []byte(`"results":[]`)):
		return fmt.Errorf("icinga has no service %q on host %q: define it (a passive service per task) and reload Icinga", r.Service, r.Host)
	case resp.StatusCode >= 300:
		return fmt.Errorf("icinga API %s answered %s: %s", i.url, resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}
