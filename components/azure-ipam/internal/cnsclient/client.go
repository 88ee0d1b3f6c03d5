// Package cnsclient is a minimal client for the azure-cns HTTP API.
package cnsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is used when the network configuration names no cnsUrl.
const DefaultURL = "http://localhost:10090"

// DefaultTimeout bounds one call to cns.
const DefaultTimeout = 10 * time.Second

// PodRequest is the body of requestipconfigs and releaseipconfigs.
type PodRequest struct {
	PodName          string `json:"podName"`
	PodNamespace     string `json:"podNamespace"`
	InfraContainerID string `json:"infraContainerID"`
}

// Allocation is an address cns handed to a pod.
type Allocation struct {
	IPAddress        string `json:"ipAddress"`
	PrefixLength     int    `json:"prefixLength"`
	Subnet           string `json:"subnet,omitempty"`
	Gateway          string `json:"gateway,omitempty"`
	PodName          string `json:"podName"`
	PodNamespace     string `json:"podNamespace"`
	InfraContainerID string `json:"infraContainerID"`
}

// ErrUnreachable wraps transport failures (connection refused, timeout, ...).
var ErrUnreachable = errors.New("cns is unreachable")

// APIError is a non-2xx answer from cns.
type APIError struct {
	Status  int
	Code    string // the "code" field of the body, e.g. "PoolExhausted"
	Message string // the "error" field of the body (or the raw body)
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	return fmt.Sprintf("cns answered %d %s: %s", e.Status, code, e.Message)
}

// Client talks to one cns endpoint.
type Client struct {
	base *url.URL
	http *http.Client
}

// ValidateURL checks that raw is an absolute http(s) URL with a host.
func ValidateURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid cnsUrl %q: %v", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid cnsUrl %q: want http://host:port", raw)
	}
	return u, nil
}

// New returns a client for the cns at baseURL.
func New(baseURL string, timeout time.Duration) (*Client, error) {
	u, err := ValidateURL(baseURL)
	if err != nil {
		return nil, err
	}
	return &Client{base: u, http: &http.Client{Timeout: timeout}}, nil
}

func (c *Client) endpoint(path string) string {
	return strings.TrimRight(c.base.String(), "/") + path
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path), reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: reading response: %v", ErrUnreachable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			apiErr.Code, apiErr.Message = e.Code, e.Error
		}
		return apiErr
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode cns response from %s: %v", path, err)
		}
	}
	return nil
}

// RequestIPConfig allocates (or returns the existing) address of a pod.
func (c *Client) RequestIPConfig(ctx context.Context, req PodRequest) (Allocation, error) {
	var a Allocation
	err := c.do(ctx, http.MethodPost, "/network/requestipconfigs", req, &a)
	if err == nil && a.IPAddress == "" {
		err = errors.New("cns response has no ipAddress")
	}
	return a, err
}

// ReleaseIPConfig frees the address of a pod (a no-op if it has none).
func (c *Client) ReleaseIPConfig(ctx context.Context, req PodRequest) error {
	return c.do(ctx, http.MethodPost, "/network/releaseipconfigs", req, nil)
}

// ListIPAddresses returns every allocation cns holds.
func (c *Client) ListIPAddresses(ctx context.Context) ([]Allocation, error) {
	var list []Allocation
	err := c.do(ctx, http.MethodGet, "/debug/ipaddresses", nil, &list)
	return list, err
}
