// Command azure-npm is the Azure network policy manager. "azure-npm start"
// watches a directory of network-policy files and serves /healthz and
// Prometheus /metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/acn-monorepo/acn/components/npm/internal/cli"
	"github.com/acn-monorepo/acn/components/npm/internal/daemon"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

func main() {
	cmd, opts, err := cli.Parse(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "azure-npm: %v\n%s", err, cli.Usage)
		os.Exit(2)
	}
	switch cmd {
	case cli.Help:
		return
	case cli.Version:
		fmt.Printf("azure-npm %s\n", version)
		return
	}
	logger := log.New(os.Stderr, "azure-npm: ", log.LstdFlags|log.LUTC)
	if err := start(opts, logger); err != nil {
		logger.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

func start(opts cli.StartOptions, logger *log.Logger) error {
	if opts.Kubeconfig != "" {
		logger.Printf("-kubeconfig %s is accepted for compatibility and ignored", opts.Kubeconfig)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d := daemon.New(opts.PolicyDir, opts.Interval, version, logger)
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	d.Scan() // metrics are meaningful from the first scrape

	pollCtx, cancelPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		d.Run(pollCtx)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Printf("version %s: watching %s every %s, serving /healthz and /metrics on %s", version, opts.PolicyDir, opts.Interval, ln.Addr())

	var runErr error
	select {
	case err := <-serveErr:
		runErr = err
	case <-ctx.Done():
		logger.Printf("signal received, shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			runErr = fmt.Errorf("shutdown: %w", err)
		} else if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	cancelPoll()
	<-polled
	if runErr == nil {
		logger.Printf("stopped")
	}
	return runErr
}
