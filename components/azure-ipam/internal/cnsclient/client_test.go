package cnsclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestValidateURL(t *testing.T) {
	for _, ok := range []string{"http://localhost:10090", "https://cns.example:1/", "http://10.0.0.1:10090/base"} {
		if _, err := ValidateURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "localhost:10090", "ftp://x", "http://", "::"} {
		if _, err := ValidateURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClientCalls(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /network/requestipconfigs", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ipAddress":"10.0.0.1","prefixLength":24,"podName":"p","podNamespace":"n","infraContainerID":"c"}`))
	})
	mux.HandleFunc("POST /network/releaseipconfigs", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(409)
		w.Write([]byte(`{"error":"no free address","code":"PoolExhausted"}`))
	})
	mux.HandleFunc("GET /debug/ipaddresses", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		w.Write([]byte("bad gateway"))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c, err := New(ts.URL+"/", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := c.RequestIPConfig(ctx, PodRequest{"p", "n", "c"})
	if err != nil || a.IPAddress != "10.0.0.1" || a.PrefixLength != 24 {
		t.Fatalf("%+v %v", a, err)
	}
	var apiErr *APIError
	if err := c.ReleaseIPConfig(ctx, PodRequest{}); !errors.As(err, &apiErr) || apiErr.Code != "PoolExhausted" || apiErr.Status != 409 {
		t.Fatalf("release: %v", err)
	}
	if _, err := c.ListIPAddresses(ctx); !errors.As(err, &apiErr) || apiErr.Status != 502 || apiErr.Message != "bad gateway" {
		t.Fatalf("list: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := New("http://"+addr, time.Second)
	if _, err := c.ListIPAddresses(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
}
