// Package devserver runs a complete Temporal server in this process, with
// its state in one SQLite file, and the Temporal Web UI beside it: the
// embedded default behind `envsync dev` and `envsync demo`.
package devserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/envsync/envsync/searchattr"
)

// Options of the embedded server. Ports of 0 are picked free.
type Options struct {
	// Dir holds temporal.db; created if missing. Required.
	Dir       string
	Namespace string // default "default"
	Port      int    // gRPC frontend, default 7233
	// AnyPort takes a free port when Port is taken, instead of failing.
	AnyPort bool
	UIPort  int // Web UI, default 8233; -1 disables the UI
	// TLS serves the frontend over TLS and requires client certificates
	// (mTLS), with the certificates of Dir/tls (see LoadOrCreateCerts).
	// The Web UI stays plain HTTP on loopback and reaches the frontend
	// with the client certificate.
	TLS bool
	// Logger for the server's own logs; nil discards them.
	Logger log.Logger
}

// Server is a running embedded Temporal.
type Server struct {
	srv       temporal.Server
	ui        *uiserver.Server
	Address   string // host:port for clients
	UIURL     string // empty without UI
	Namespace string
	// Certs are the certificates clients need; nil without TLS.
	Certs *Certs
}

const host = "127.0.0.1"

// Start brings the server up; Stop ends it. State survives restarts in
// Dir/temporal.db.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("devserver: Dir is required")
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = log.NewNoopLogger()
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	var err error
	if o.Port == 0 {
		o.Port = 7233
	}
	ports := map[string]int{"frontend": o.Port}
	for _, svc := range []string{"frontendHTTP", "history", "matching", "worker"} {
		if ports[svc], err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := portFree(o.Port); err != nil && o.AnyPort {
		if o.Port, err = freePort(); err != nil {
			return nil, err
		}
		ports["frontend"] = o.Port
	} else if err != nil {
		return nil, fmt.Errorf("devserver: gRPC port %d is taken (another envsync dev or Temporal running?): %w", o.Port, err)
	}

	dbFile := filepath.Join(o.Dir, "temporal.db")
	sqlConf := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      dbFile,
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "2"},
	}
	if _, err := os.Stat(dbFile); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlConf); err != nil {
			return nil, fmt.Errorf("devserver: create schema in %s: %w", dbFile, err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", o.Namespace, false, searchattr.Types())
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %s: %w", o.Namespace, err)
	}

	addr := net.JoinHostPort(host, strconv.Itoa(o.Port))
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{"active": {
			Enabled: true, InitialFailoverVersion: 1, RPCAddress: addr,
			HTTPAddress: net.JoinHostPort(host, strconv.Itoa(ports["frontendHTTP"])),
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, svc := range []string{"frontend", "history", "matching", "worker"} {
		s := config.Service{RPC: config.RPC{GRPCPort: ports[svc], BindOnIP: host}}
		if svc == "frontend" {
			s.RPC.HTTPPort = ports["frontendHTTP"]
		}
		conf.Services[svc] = s
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = addr
	var certs *Certs
	if o.TLS {
		if certs, err = LoadOrCreateCerts(filepath.Join(o.Dir, "tls")); err != nil {
			return nil, err
		}
		// The frontend demands a certificate signed by our CA of every
		// client, the server's own system worker included.
		trust := config.ClientTLS{ServerName: "localhost", RootCAFiles: []string{certs.CA}}
		conf.Global.TLS.Frontend = config.GroupTLS{
			Server: config.ServerTLS{CertFile: certs.ServerCert, KeyFile: certs.ServerKey,
				ClientCAFiles: []string{certs.CA}, RequireClientAuth: true},
			Client: trust,
		}
		conf.Global.TLS.SystemWorker = config.WorkerTLS{CertFile: certs.ClientCert, KeyFile: certs.ClientKey, Client: trust}
	}

	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	claims, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(o.Logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claims }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start: %w", err)
	}
	s := &Server{srv: srv, Address: addr, Namespace: o.Namespace, Certs: certs}
	if o.UIPort >= 0 {
		if o.UIPort == 0 {
			o.UIPort = 8233
		}
		if err := portFree(o.UIPort); err != nil {
			if o.UIPort, err = freePort(); err != nil {
				srv.Stop()
				return nil, err
			}
		}
		uiConf := &uiconfig.Config{
			Host: host, Port: o.UIPort, TemporalGRPCAddress: addr, EnableUI: true,
			DefaultNamespace: o.Namespace, CORS: uiconfig.CORS{CookieInsecure: true},
			HideLogs: true, DisableNewsFetch: true,
		}
		if certs != nil {
			uiConf.TLS = uiconfig.TLS{CaFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey,
				ServerName: "localhost", EnableHostVerification: true}
		}
		s.ui = uiserver.NewServer(uioptions.WithConfigProvider(uiConf))
		go func() { _ = s.ui.Start() }() // Start blocks; failures show as an unreachable URL
		s.UIURL = fmt.Sprintf("http://%s:%d/namespaces/%s/workflows", host, o.UIPort, o.Namespace)
	}
	return s, nil
}

// Stop shuts the UI and the server down.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.srv.Stop()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("devserver: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}
