package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Mongo is a MongoDB wire-protocol server on loopback: FerretDB 1.24
// embedded in this process, storing in SQLite under a temp dir. Debian has
// no MongoDB server; FerretDB's own binary cannot be installed with go
// install, so the test embeds its library.
type Mongo struct {
	Addr string
	URI  string
}

// StartMongo runs FerretDB until the test ends.
func StartMongo(t *testing.T) *Mongo {
	t.Helper()
	port := FreePort(t)
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: fmt.Sprintf("127.0.0.1:%d", port)},
		Handler:   "sqlite",
		SQLiteURL: "file:" + t.TempDir() + "/",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	WaitPort(t, port)
	m := &Mongo{Addr: fmt.Sprintf("127.0.0.1:%d", port), URI: f.MongoDBURI()}
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(m.URI).SetTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatalf("FerretDB does not answer: %v", err)
	}
	return m
}
