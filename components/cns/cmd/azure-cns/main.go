// Command azure-cns is the Azure Container Network Service daemon: it hands
// out pod IP addresses from a configured pool over HTTP and persists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/acn-monorepo/acn/components/cns/internal/config"
	"github.com/acn-monorepo/acn/components/cns/internal/ipam"
	"github.com/acn-monorepo/acn/components/cns/internal/server"
	"github.com/acn-monorepo/acn/components/cns/internal/state"
)

// version is set at link time with -X main.version=<component version>.
var version = "unknown"

const shutdownTimeout = 10 * time.Second

func main() {
	opts, err := config.Parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "azure-cns: %v\n", err)
		os.Exit(2)
	}
	if opts.ShowVersion {
		fmt.Println("Azure Container Network Service")
		fmt.Printf("Version %s\n", version)
		return
	}
	logger := log.New(os.Stderr, "azure-cns: ", log.LstdFlags|log.LUTC)
	if err := run(opts.Config, logger); err != nil {
		logger.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

func run(cfg config.Config, logger *log.Logger) error {
	prefixes, err := ipam.ParsePrefixes(cfg.IPPool)
	if err != nil {
		return err
	}
	if len(prefixes) == 0 {
		logger.Printf("warning: the ip pool is empty (set -ip-pool or \"ipPool\" in -config); every request will fail with PoolExhausted")
	}
	pool := ipam.NewPool(prefixes)
	store := state.Store{Path: cfg.StateFile}
	saved, err := store.Load()
	if err != nil {
		return err
	}
	for _, skipped := range pool.Restore(saved) {
		logger.Printf("warning: dropping persisted %v", skipped)
	}
	// Write the (normalised) state now: this creates the directory and fails
	// fast if the state file is not writable.
	if err := store.Save(pool.List()); err != nil {
		return err
	}
	logger.Printf("version %s: pool %v, %d allocation(s) restored from %s", version, prefixes, pool.Len(), cfg.StateFile)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           server.New(pool, store, version, logger).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Printf("listening on %s", ln.Addr())

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Printf("signal received, shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Printf("stopped")
	return nil
}
