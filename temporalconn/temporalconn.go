// Package temporalconn says where and how envsync reaches Temporal, read the
// way the temporal CLI reads it: a profile of the client config file
// (TOML: $TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml;
// profile $TEMPORAL_PROFILE, else "default"), then the TEMPORAL_*
// environment variables over the profile, then flags (--namespace) over
// both. The reading is the SDK's own (go.temporal.io/sdk/contrib/envconfig),
// so a profile that works for `temporal` works for envsync.
//
// Dial adds what the SDK leaves to the caller: errors that name the setting
// to change when a handshake is refused. Nothing here logs or returns a
// secret: Conn.String names the settings in use, never an API key or key
// contents.
package temporalconn

import (
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// The defaults when neither the profile nor the environment says.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// Request says which connection to load. The zero value is what a command
// run without flags uses.
type Request struct {
	// Profile names the profile to read; "" means $TEMPORAL_PROFILE, else
	// "default". A named profile must exist; "default" may be absent.
	Profile string
	// ProfileOnly reads the profile without the TEMPORAL_* variables over
	// it (except TEMPORAL_CONFIG_FILE, which says where the file is). A
	// chained pull's target cluster is a profile of the worker's: the
	// worker's own TEMPORAL_ADDRESS and certificates are for its own
	// cluster and must not redirect it.
	ProfileOnly bool
	// Namespace, when set, wins over the environment and the profile:
	// the --namespace flag.
	Namespace string
	// Env looks variables up; nil reads the process's.
	Env envconfig.EnvLookup
}

// Conn is a loaded connection: the SDK's client options and what they were
// made of, for messages.
type Conn struct {
	Options client.Options
	// Profile is the profile read ("default" when none was named), and
	// File the config file it was read from ("" when there is none).
	// InFile says whether the file has that profile ("default" may be
	// absent).
	Profile, File string
	InFile        bool
	tls           *envconfig.ClientConfigTLS // nil: plain text
	apiKey        bool
}

// Load reads the connection r asks for.
func Load(r Request) (Conn, error) {
	env := r.Env
	if env == nil {
		env = envconfig.EnvLookupOS
	}
	c := Conn{Profile: r.Profile, File: configFile(env)}
	if c.Profile == "" {
		c.Profile, _ = env.LookupEnv("TEMPORAL_PROFILE")
	}
	if c.Profile == "" {
		c.Profile = envconfig.DefaultConfigFileProfile
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFileProfile: r.Profile, DisableEnv: r.ProfileOnly, EnvLookup: env,
	})
	if err != nil {
		return c, c.explainLoad(err)
	}
	if c.File != "" {
		all, err := envconfig.LoadClientConfig(envconfig.LoadClientConfigOptions{EnvLookup: env})
		c.InFile = err == nil && all.Profiles[c.Profile] != nil
	}
	if r.Namespace != "" {
		prof.Namespace = r.Namespace
	}
	if prof.Address == "" {
		prof.Address = DefaultAddress
	}
	if prof.Namespace == "" {
		prof.Namespace = DefaultNamespace
	}
	if err := c.check(prof); err != nil {
		return c, err
	}
	if c.Options, err = prof.ToClientOptions(envconfig.ToClientOptionsRequest{}); err != nil {
		return c, fmt.Errorf("Temporal connection (%s): %w; check the TLS settings (TEMPORAL_TLS_* or the profile's [tls] table)", c.from(), err)
	}
	c.apiKey = prof.APIKey != ""
	if c.Options.ConnectionOptions.TLS != nil {
		c.tls = prof.TLS
		if c.tls == nil { // an API key turns TLS on by itself
			c.tls = &envconfig.ClientConfigTLS{}
		}
	}
	return c, nil
}

// configFile is the file envconfig reads: $TEMPORAL_CONFIG_FILE, else the
// default path; "" when it does not exist.
func configFile(env envconfig.EnvLookup) string {
	f, _ := env.LookupEnv("TEMPORAL_CONFIG_FILE")
	if f == "" {
		f = envconfig.DefaultConfigFilePath()
	}
	if _, err := os.Stat(f); err != nil {
		return ""
	}
	return f
}

// from says where the settings came from, for messages.
func (c Conn) from() string {
	if !c.InFile {
		return "environment; no config file profile"
	}
	return "profile " + c.Profile + " of " + c.File + " and the environment"
}

func (c Conn) explainLoad(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to find profile"):
		where := c.File
		if where == "" {
			where = envconfig.DefaultConfigFilePath() + " (which does not exist)"
		}
		return fmt.Errorf("Temporal profile %q is not in %s: add a [profile.%s] table there, or set TEMPORAL_CONFIG_FILE to the file that has it", c.Profile, where, c.Profile)
	case strings.Contains(msg, "failed parsing config"), strings.Contains(msg, "failed reading file"):
		return fmt.Errorf("Temporal config file (TEMPORAL_CONFIG_FILE, else %s): %w; fix the file or point TEMPORAL_CONFIG_FILE elsewhere", envconfig.DefaultConfigFilePath(), err)
	}
	return fmt.Errorf("Temporal connection settings: %w", err)
}

// check refuses half-given TLS settings with the names to set, before the
// SDK's messages, which name its struct fields, not the settings.
func (c Conn) check(p envconfig.ClientConfigProfile) error {
	t := p.TLS
	if t == nil || t.Disabled {
		return nil
	}
	var missing []string
	certGiven := t.ClientCertPath != "" || len(t.ClientCertData) > 0
	keyGiven := t.ClientKeyPath != "" || len(t.ClientKeyData) > 0
	switch {
	case certGiven && !keyGiven:
		missing = append(missing, "the client key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or a profile's tls.client_key_path) beside the client certificate")
	case keyGiven && !certGiven:
		missing = append(missing, "the client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or a profile's tls.client_cert_path) beside the client key")
	}
	for _, f := range []struct{ path, env, key string }{
		{t.ClientCertPath, "TEMPORAL_TLS_CLIENT_CERT_PATH", "tls.client_cert_path"},
		{t.ClientKeyPath, "TEMPORAL_TLS_CLIENT_KEY_PATH", "tls.client_key_path"},
		{t.ServerCACertPath, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "tls.server_ca_cert_path"},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s or a profile's %s): %v", f.path, f.env, f.key, err))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Temporal TLS settings (%s) lack %s", c.from(), strings.Join(missing, "; and "))
	}
	return nil
}

// String describes the connection for logs and messages: address,
// namespace and which credentials are in use, never their contents.
func (c Conn) String() string {
	s := c.Options.HostPort + " namespace " + c.Options.Namespace
	var with []string
	switch {
	case c.tls == nil:
		with = append(with, "plain text")
	default:
		with = append(with, "TLS")
		if c.tls.ClientCertPath != "" {
			with = append(with, "client certificate "+c.tls.ClientCertPath)
		} else if len(c.tls.ClientCertData) > 0 {
			with = append(with, "client certificate from data")
		}
		if c.tls.ServerCACertPath != "" {
			with = append(with, "server CA "+c.tls.ServerCACertPath)
		}
	}
	if c.apiKey {
		with = append(with, "API key")
	}
	if c.InFile {
		with = append(with, "profile "+c.Profile)
	}
	return s + " (" + strings.Join(with, ", ") + ")"
}

// MapEnv is an environment of its own, for Request.Env: tests, and callers
// that must not read the process's.
type MapEnv map[string]string

// Environ lists the variables as os.Environ does.
func (m MapEnv) Environ() []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// LookupEnv is os.LookupEnv.
func (m MapEnv) LookupEnv(k string) (string, bool) { v, ok := m[k]; return v, ok }
