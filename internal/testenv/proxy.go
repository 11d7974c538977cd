package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP listener on loopback in front of a real server, whose
// behaviour a test switches to make the network fail the ways stores fail:
// refusing, cutting connections part way, or accepting and never answering.
// The code under test talks to it exactly as it would to the server.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener
	mode   atomic.Int32
	// cutAfter is how many client bytes a connection carries before it
	// is cut, in mode cut.
	cutAfter atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]bool
	// Cut counts connections cut so far; Stalled, connections accepted
	// and never answered.
	Cut, Stalled atomic.Int64
}

const (
	modeForward = iota
	modeRefuse
	modeStall
	modeCut
)

// StartProxy listens on a free loopback port and forwards to target
// (host:port) until told otherwise.
func StartProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

// URL is the proxy as an http:// endpoint.
func (p *Proxy) URL() string { return "http://" + p.Addr }

// Forward passes connections through to the server.
func (p *Proxy) Forward() { p.mode.Store(modeForward) }

// Refuse closes each new connection at once, as a server that is down.
func (p *Proxy) Refuse() { p.mode.Store(modeRefuse) }

// Stall accepts connections and reads what is sent, but never answers.
func (p *Proxy) Stall() { p.mode.Store(modeStall) }

// Drop closes every connection open now, as a server that went away does;
// new ones are handled as the mode says.
func (p *Proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// CutAfter forwards, but cuts each new connection once the client has
// sent n bytes on it: an upload breaking half way.
func (p *Proxy) CutAfter(n int64) { p.cutAfter.Store(n); p.mode.Store(modeCut) }

func (p *Proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c, true)
		go p.handle(c, p.mode.Load())
	}
}

func (p *Proxy) handle(c net.Conn, mode int32) {
	defer func() { c.Close(); p.track(c, false) }()
	switch mode {
	case modeRefuse:
		return
	case modeStall:
		p.Stalled.Add(1)
		_, _ = io.Copy(io.Discard, c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	var from io.Reader = c
	if mode == modeCut {
		from = io.LimitReader(c, p.cutAfter.Load())
	}
	done := make(chan struct{}, 2)
	var sent atomic.Int64
	go func() { n, _ := io.Copy(up, from); sent.Store(n); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	if mode == modeCut && sent.Load() >= p.cutAfter.Load() {
		p.Cut.Add(1) // cut for real, not a connection the client closed
	}
}
