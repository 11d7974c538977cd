package devserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs are the files of `envsync dev --tls`: a CA of its own, the
// server's certificate for 127.0.0.1 and localhost, and one client
// certificate, all signed by that CA. Keys are 0600.
type Certs struct {
	Dir                   string
	CA                    string // the CA's certificate: clients trust it, the server accepts clients it signed
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// certValidity is how long generated certificates last; they are made
// anew when less than a day is left.
const certValidity = 365 * 24 * time.Hour

// LoadOrCreateCerts keeps the certificates in dir if they are good for
// another day, so clients set up against an earlier start keep working,
// and makes new ones otherwise.
func LoadOrCreateCerts(dir string) (*Certs, error) {
	// Absolute, so the paths printed for clients work from anywhere.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("devserver: certificates: %w", err)
	}
	c := &Certs{
		Dir: dir, CA: filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	if c.good() {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: certificates: %w", err)
	}
	if err := c.create(); err != nil {
		return nil, fmt.Errorf("devserver: create certificates in %s: %w", dir, err)
	}
	return c, nil
}

// good says whether every file is there and the certificates last
// another day.
func (c *Certs) good() bool {
	for _, f := range []string{c.CA, c.ServerKey, c.ClientKey} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	for _, f := range []string{c.CA, c.ServerCert, c.ClientCert} {
		b, err := os.ReadFile(f)
		if err != nil {
			return false
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return false
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || time.Until(cert.NotAfter) < 24*time.Hour {
			return false
		}
	}
	return true
}

func (c *Certs) create() error {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "envsync dev CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	if err := writePEM(c.CA, "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	leaf := func(name string, usage x509.ExtKeyUsage, certFile, keyFile string, hosts bool) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if hosts {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.ParseIP(host), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
			return err
		}
		return writePEM(certFile, "CERTIFICATE", der, 0o644)
	}
	// The system worker inside the server connects to the frontend as a
	// client too, with the client certificate.
	if err := leaf("envsync dev server", x509.ExtKeyUsageServerAuth, c.ServerCert, c.ServerKey, true); err != nil {
		return err
	}
	return leaf("envsync dev client", x509.ExtKeyUsageClientAuth, c.ClientCert, c.ClientKey, false)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// writePEM replaces path whole: a key is never readable by others, not
// even for a moment (the file is created with perm, not chmod-ed after).
func writePEM(path, kind string, der []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = pem.Encode(f, &pem.Block{Type: kind, Bytes: der})
	err = errors.Join(err, f.Close())
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
