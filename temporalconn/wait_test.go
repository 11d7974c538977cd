package temporalconn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/temporalconn"
)

// A worker started before its server (a host booting, `docker compose
// up`) keeps trying until the server answers, saying so each time; one
// whose server never comes gives up after its wait with the usual hint,
// and with no wait it fails at the first refusal.
func TestDialWaitingWaitsForAServerThatStartsLater(t *testing.T) {
	tp := testenv.StartTemporal(t)
	load := func(addr string) temporalconn.Conn {
		conn, err := temporalconn.Load(temporalconn.Request{Env: temporalconn.MapEnv{
			"TEMPORAL_CONFIG_FILE": "/nonexistent", "TEMPORAL_ADDRESS": addr, "TEMPORAL_NAMESPACE": tp.Namespace}})
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	ctx := context.Background()

	// Nothing listens on addr yet; a second later the server does,
	// through a proxy to the real one.
	addr := freeAddr(t)
	go func() {
		time.Sleep(time.Second)
		proxy(t, addr, tp.Server.GetFrontendHostPort())
	}()
	var tries int
	c, err := load(addr).DialWaiting(ctx, nil, nil, time.Minute, func(error) { tries++ })
	if err != nil {
		t.Fatalf("a server that came up a second later: %v", err)
	}
	defer c.Close()
	if tries == 0 {
		t.Fatal("connected at the first try: the server was there before it was meant to be")
	}
	if _, err := c.CheckHealth(ctx, nil); err != nil {
		t.Fatalf("the client got through but the server does not answer: %v", err)
	}

	never := freeAddr(t)
	tries = 0
	_, err = load(never).DialWaiting(ctx, nil, nil, 3*time.Second, func(error) { tries++ })
	if err == nil || !strings.Contains(err.Error(), "check TEMPORAL_ADDRESS") || tries == 0 {
		t.Errorf("a server that never came, after %d tries: %v", tries, err)
	}
	tries = 0
	_, err = load(never).DialWaiting(ctx, nil, nil, 0, func(error) { tries++ })
	if err == nil || tries != 0 {
		t.Errorf("no wait: %d tries, %v; want an error at once", tries, err)
	}

	// TLS against a plain-text server is a setting to change, not a
	// server on its way: no waiting, and the hint says which.
	tries = 0
	tlsConn, err := temporalconn.Load(temporalconn.Request{Env: temporalconn.MapEnv{
		"TEMPORAL_CONFIG_FILE": "/nonexistent", "TEMPORAL_ADDRESS": tp.Server.GetFrontendHostPort(), "TEMPORAL_NAMESPACE": tp.Namespace, "TEMPORAL_TLS": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tlsConn.DialWaiting(ctx, nil, nil, time.Minute, func(error) { tries++ })
	if err == nil || tries != 0 || !strings.Contains(err.Error(), "speaks plain text") {
		t.Errorf("TLS to a plain-text server: %d tries, %v; want an error at once naming TEMPORAL_TLS", tries, err)
	}

	// A stop while waiting ends the wait with the context's error.
	stop, cancel := context.WithCancel(ctx)
	_, err = load(never).DialWaiting(stop, nil, nil, time.Minute, func(error) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("stopped while waiting: %v, want context.Canceled", err)
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
}

// proxy forwards connections to addr on to target until the test ends.
func proxy(t *testing.T, addr, target string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Error(err)
		return
	}
	t.Cleanup(func() { l.Close() })
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}
