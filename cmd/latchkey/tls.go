package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// certReloader serves a certificate read from files, and reads them again
// when the process gets SIGHUP, so that a renewed certificate (certbot,
// cert-manager) takes effect without a restart or a dropped connection.
// A reload that fails keeps the certificate in use and says why.
type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
}

// newCertReloader reads the certificate and key once: a server does not
// start with files it cannot use.
func newCertReloader(certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, logger: logger}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY): %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// config is the TLS configuration the server listens with.
func (c *certReloader) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
}

// watch reloads the files on each SIGHUP until ctx ends.
func (c *certReloader) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := c.load(); err != nil {
					c.logger.Error("SIGHUP: the TLS certificate could not be read again; the one in use stays", "err", err)
					continue
				}
				c.logger.Info("SIGHUP: TLS certificate reloaded", "cert", c.certFile)
			}
		}
	}()
}

// errTLSPair refuses a certificate without its key, or a key without its
// certificate.
var errTLSPair = errors.New("--tls-cert and --tls-key (LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY) go together: give both, or neither for plain HTTP")
