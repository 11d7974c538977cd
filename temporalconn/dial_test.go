package temporalconn

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.temporal.io/sdk/contrib/envconfig"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Refusals after the handshake come as gRPC status codes, wrapped by the
// SDK's Dial as here; the hint names the setting for each. (Handshake
// refusals are tested against a real mTLS server in package devserver.)
func TestHintForRefusedCredentials(t *testing.T) {
	withKey, err := Load(Request{Env: MapEnv{"TEMPORAL_CONFIG_FILE": "/nonexistent", "TEMPORAL_API_KEY": "k"}})
	if err != nil {
		t.Fatal(err)
	}
	without, err := Load(Request{Env: MapEnv{"TEMPORAL_CONFIG_FILE": "/nonexistent"}})
	if err != nil {
		t.Fatal(err)
	}
	tlsNoCert, err := Load(Request{Env: MapEnv{"TEMPORAL_CONFIG_FILE": "/nonexistent", "TEMPORAL_TLS": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	tlsCert := tlsNoCert
	tlsCert.tls = &envconfig.ClientConfigTLS{ClientCertPath: "/etc/envsync/client.pem", ClientKeyPath: "/etc/envsync/client.key"}
	wrap := func(c codes.Code) error {
		return fmt.Errorf("failed reaching server: %w", status.Error(c, "request unauthorized"))
	}
	for _, tc := range []struct {
		name string
		conn Conn
		err  error
		want string
	}{
		{"a bad API key", withKey, wrap(codes.Unauthenticated), "the server refused the API key: set TEMPORAL_API_KEY (or a profile's api_key)"},
		{"no credentials", without, wrap(codes.Unauthenticated), "set TEMPORAL_API_KEY (or a profile's api_key), or a client certificate"},
		{"another namespace's key", withKey, wrap(codes.PermissionDenied), "not allowed namespace default"},
		{"mTLS refused by closing (TLS 1.3)", tlsNoCert, errors.New("failed reaching server: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"),
			"as one that requires a client certificate does: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"refused certificate by closing (TLS 1.3)", tlsCert, errors.New("failed reaching server: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"),
			"as one that refused the client certificate does: set TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{"nothing listening", without, fmt.Errorf("failed reaching server: %w", status.Error(codes.Unavailable, "connection refused")), "check TEMPORAL_ADDRESS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.conn.hint(tc.err); !strings.Contains(got, tc.want) {
				t.Errorf("hint %q\nwant it to say %q", got, tc.want)
			}
		})
	}
}
