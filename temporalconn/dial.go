package temporalconn

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
)

// Dial connects and checks that the server answers (the SDK's Dial asks
// for the server's capabilities), so a refused handshake is reported here,
// with the setting to change, not at the first call. logger and h (the
// SDK's metrics) may be nil.
func (c Conn) Dial(ctx context.Context, logger log.Logger, h client.MetricsHandler) (client.Client, error) {
	cl, err := c.dial(ctx, logger, h)
	if err != nil {
		return nil, c.explain(err)
	}
	return cl, nil
}

func (c Conn) dial(ctx context.Context, logger log.Logger, h client.MetricsHandler) (client.Client, error) {
	o := c.Options
	o.Logger, o.MetricsHandler = logger, h
	return client.DialContext(ctx, o)
}

func (c Conn) explain(err error) error {
	return fmt.Errorf("connect to Temporal at %s: %w%s", c, err, c.hint(err))
}

// DialWaiting is Dial for a process that runs for good (a worker), which
// may start before its server does: a host booting, `docker compose up`,
// a server restarting. While the server cannot be reached (nothing
// listens, the frontend is not healthy yet, a proxy in front has no
// server behind it, the name does not resolve yet) it tries again every
// retryPause, calling retrying with the reason, for up to wait; a refusal
// an operator must fix (certificates, credentials) fails at once, as
// Dial. Once ctx ends it returns ctx's error.
func (c Conn) DialWaiting(ctx context.Context, logger log.Logger, h client.MetricsHandler, wait time.Duration, retrying func(error)) (client.Client, error) {
	deadline := time.Now().Add(wait)
	for {
		cl, err := c.dial(ctx, logger, h)
		switch {
		case err == nil:
			return cl, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !unreachable(err) || time.Now().Add(retryPause).After(deadline):
			return nil, c.explain(err)
		}
		retrying(c.explain(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retryPause):
		}
	}
}

// retryPause is how long DialWaiting waits between two tries.
var retryPause = 2 * time.Second

// unreachable says err is the server not answering (gRPC's Unavailable or
// DeadlineExceeded, or the SDK's health check) rather than refusing us:
// trying again later can succeed. A TLS handshake or certificate failure
// is a refusal, whatever its code.
func unreachable(err error) bool {
	msg := err.Error()
	code := serviceerror.ToStatus(err).Code()
	if code != codes.Unavailable && code != codes.DeadlineExceeded && !strings.Contains(msg, "not healthy") {
		return false
	}
	for _, refusal := range []string{"tls:", "x509:", "certificate", "handshake"} {
		if strings.Contains(msg, refusal) {
			return false
		}
	}
	return true
}

// hint says what to set for the handshake and authentication failures an
// operator can fix, from the error texts of crypto/tls, crypto/x509 and
// gRPC, which have no types for them once gRPC has wrapped them.
func (c Conn) hint(err error) string {
	msg := err.Error()
	cert := "set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH (or a profile's tls.client_cert_path and tls.client_key_path)"
	switch {
	case strings.Contains(msg, "certificate required"),
		c.tls != nil && c.tls.ClientCertPath == "" && len(c.tls.ClientCertData) == 0 && strings.Contains(msg, "bad certificate"):
		return ": the server requires a client certificate: " + cert
	case c.tls != nil && closed(msg) && c.tls.ClientCertPath == "" && len(c.tls.ClientCertData) == 0:
		// TLS 1.3 finishes the client's side of the handshake before the
		// server checks its certificate: a refusal can arrive as a closed
		// connection rather than its alert, depending on timing.
		return ": the server closed the TLS connection, as one that requires a client certificate does: " + cert
	case c.tls != nil && closed(msg):
		return ": the server closed the TLS connection, as one that refused the client certificate does: " + cert + " to a certificate its client CA signed, and not expired"
	case strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "bad certificate"), strings.Contains(msg, "certificate expired"):
		return ": the server refused the client certificate: " + cert + " to a certificate its client CA signed, and not expired"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return ": the server's certificate is signed by a CA this host does not trust: set TEMPORAL_TLS_SERVER_CA_CERT_PATH (or a profile's tls.server_ca_cert_path) to that CA's certificate"
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "certificate is not valid for"):
		return ": the server's certificate names another host: connect by a name it holds, or set TEMPORAL_TLS_SERVER_NAME (or a profile's tls.server_name) to one"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return ": the server speaks plain text, not TLS: set TEMPORAL_TLS=false (or a profile's tls.disabled = true), or unset TEMPORAL_API_KEY if it turned TLS on"
	case c.tls == nil && (strings.Contains(msg, "server preface") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")):
		return ": the server may require TLS: set TEMPORAL_TLS=true and TEMPORAL_TLS_SERVER_CA_CERT_PATH, and for mTLS " + cert
	}
	code := serviceerror.ToStatus(err).Code()
	switch {
	case code == codes.Unauthenticated && c.apiKey:
		return ": the server refused the API key: set TEMPORAL_API_KEY (or a profile's api_key) to a valid key"
	case code == codes.Unauthenticated:
		return ": the server wants credentials: set TEMPORAL_API_KEY (or a profile's api_key), or a client certificate: " + cert
	case code == codes.PermissionDenied:
		return ": the credentials are not allowed namespace " + c.Options.Namespace + ": check TEMPORAL_NAMESPACE / --namespace and the key's or certificate's permissions"
	}
	return ": check TEMPORAL_ADDRESS (or a profile's address), or start `envsync dev`"
}

// closed says the server ended the connection without a word.
func closed(msg string) bool {
	return strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")
}
